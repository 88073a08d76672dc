"""Receipt lines (签购单) for a journal entry: merchant copy and cardholder copy, as lists of
byte strings of at most 32 columns, for the 58 mm printer (drivers/escpos.py prints lines).

Text is GB18030, the printer font ROM's encoding: ASCII for the English labels, a few Chinese
labels as GB18030 bytes written out here (MicroPython has no GB18030 codec), and the
merchant name as the parameters carry it (GB18030 bytes, docs/packets.md). A Chinese
character is two bytes and prints two columns wide, so bytes count as columns, and a long
name is wrapped between characters, never inside one.

    lines(entry, params, copy="merchant", reprint=False)
"""

import binascii

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

WIDTH = const(32)

# 60.1 code, English name, GB18030 hex of the Chinese name.
_KINDS = """22 SALE cffbb7d1
23 VOID cffbb7d1b3b7cffa
25 REFUND cdcbbbf5
10 PRE-AUTH d4a4cadac8a8
11 PRE-AUTH_VOID d4a4cadac8a8b3b7cffa
20 AUTH_COMPLETE d4a4cadac8a8cdeab3c9
24 AUTH_SETTLE d4a4cadac8a8cdeab3c928cda8d6aa29
21 COMPLETE_VOID d4a4cadac8a8cdeab3c9b3b7cffa"""
# Credits and voids print with a minus sign.
_NEGATIVE = (23, 25, 11, 21)

# The slip's fixed lines, each after a newline (GB18030 has no 0x0A inside a character), and
# its labels and formats, each after a "|": two literals, where a literal each was 0.8 KB of
# heap (64-bit unix port) from the first sale on.
_LINES = (
    b"\nPOS \xc7\xa9\xb9\xba\xb5\xa5 SALES SLIP"  # 签购单
    b"\nMERCHANT COPY \xc9\xcc\xbb\xa7\xb4\xe6\xb8\xf9"  # 商户存根
    b"\nCARDHOLDER COPY \xb3\xd6\xbf\xa8\xc8\xcb\xb4\xe6\xb8\xf9"  # 持卡人存根
    b"\n*** REPRINT \xd6\xd8\xb4\xf2\xd3\xa1 ***"  # 重打印
    b"\nSIGNATURE \xb3\xd6\xbf\xa8\xc8\xcb\xc7\xa9\xc3\xfb:"  # 持卡人签名
    b"\nI ACKNOWLEDGE SATISFACTORY"
    b"\nRECEIPT OF RELATIVE GOODS"
    b"\n--------------------------------"
    b"\nMERCHANT NAME:"
    b"\nTXN TYPE: "
    b"\n"
)
_TITLE = const(0)
_MERCHANT_COPY = const(1)
_CARDHOLDER_COPY = const(2)
_REPRINT = const(3)
_SIGNATURE = const(4)
_AGREE = const(5)
_AGREE2 = const(6)
_RULE = const(7)
_MERCHANT_NAME = const(8)
_TXN_TYPE = const(9)
_LABELS = (
    "|MERCHANT NO: "
    "|TERMINAL NO: "
    "|%s OPER: %s"
    "|ACQUIRER: "
    "|CARD NO: "
    "|BATCH NO: "
    "|%06d VOUCHER: %06d"
    "|AUTH NO: "
    "|REF NO: "
    "|DATE/TIME: "
    "|%s/%s/%s %s:%s:%s"
    "|ORIG VOUCHER: "
    "|AMOUNT: RMB "
    "|"
)
_L_MERCHANT_NO = const(0)
_L_TERMINAL_NO = const(1)
_L_OPERATOR = const(2)
_L_ACQUIRER = const(3)
_L_CARD_NO = const(4)
_L_BATCH_NO = const(5)
_L_VOUCHER = const(6)
_L_AUTH_NO = const(7)
_L_REF_NO = const(8)
_L_DATE_TIME = const(9)
_L_DATE_FORMAT = const(10)
_L_ORIG_VOUCHER = const(11)
_L_AMOUNT = const(12)


def kind_label(kind):
    """(English, GB18030 Chinese) name of a transaction kind code."""
    for line in _KINDS.split("\n"):
        code, english, chinese = line.split()
        if int(code) == kind:
            return english.replace("_", " ").encode(), binascii.unhexlify(chinese)
    return ("TXN %d" % kind).encode(), b""


def _char_size(text, i):
    # Size of the GB18030 character at text[i]: 1 (ASCII), 4 (second byte a digit), else 2.
    if text[i] < 0x80:
        return 1
    if i + 1 < len(text) and 0x30 <= text[i + 1] <= 0x39:
        return 4
    return 2


def wrap(text, width=WIDTH):
    """GB18030 `text` (bytes) cut into lines of at most `width` bytes, between characters."""
    out = []
    start = i = 0
    while i < len(text):
        size = _char_size(text, i)
        if i + size - start > width:
            out.append(bytes(text[start:i]))
            start = i
        i += size
    if start < len(text) or not out:
        out.append(bytes(text[start:]))
    return out


def amount_text(fen):
    """ "12.34" from 1234 fen."""
    return "%d.%02d" % (fen // 100, fen % 100)


def _pair(label, value):
    # "LABEL: value", shortened to the width (values are ASCII).
    return ("%s%s" % (label, value)).encode()[:WIDTH]


def lines(entry, params, copy="merchant", reprint=False):
    """The slip of journal `entry` (app.journal.Entry) for application `params`
    (app.params.Params of the application): "merchant" or "cardholder" copy."""
    # The tables split once a slip (a label or line is then one index), after their
    # leading separator: entry n of a table is at n + 1.
    fixed = _LINES.split(b"\n")
    label = _LABELS.split("|")
    out = [
        fixed[1 + _TITLE],
        fixed[1 + (_MERCHANT_COPY if copy == "merchant" else _CARDHOLDER_COPY)],
    ]
    out.append(fixed[1 + _RULE])
    out.append(fixed[1 + _MERCHANT_NAME])
    out.extend(wrap(params["merchant_name"] or b""))
    out.append(_pair(label[1 + _L_MERCHANT_NO], params["merchant_id"]))
    operator = label[1 + _L_OPERATOR] % (params["terminal_id"], entry.operator)
    out.append(_pair(label[1 + _L_TERMINAL_NO], operator))
    out.append(_pair(label[1 + _L_ACQUIRER], params["name"] or ""))
    mode = entry.entry_mode[:2]
    how = {"01": "M", "02": "S", "05": "I", "07": "C"}.get(mode, "")
    out.append(_pair(label[1 + _L_CARD_NO], "%s %s" % (entry.pan_masked, how)))
    english, chinese = kind_label(entry.kind)
    line = fixed[1 + _TXN_TYPE] + english
    if len(line) + 1 + len(chinese) <= WIDTH:
        out.append(line + b" " + chinese)
    else:  # the Chinese name on a line of its own, under the English one
        out.append(line[:WIDTH])
        out.append(b" " * 10 + chinese)
    voucher = label[1 + _L_VOUCHER] % (entry.batch, entry.stan)
    out.append(_pair(label[1 + _L_BATCH_NO], voucher))
    if entry.auth_code:
        out.append(_pair(label[1 + _L_AUTH_NO], entry.auth_code))
    if entry.rrn:
        out.append(_pair(label[1 + _L_REF_NO], entry.rrn))
    date, time = entry.date, entry.time
    when = (date[:4], date[4:6], date[6:8], time[:2], time[2:4], time[4:6])
    out.append(_pair(label[1 + _L_DATE_TIME], label[1 + _L_DATE_FORMAT] % when))
    if entry.original_stan:
        out.append(_pair(label[1 + _L_ORIG_VOUCHER], "%06d" % entry.original_stan))
    sign = "-" if entry.kind in _NEGATIVE else ""
    out.append(_pair(label[1 + _L_AMOUNT], sign + amount_text(entry.amount)))
    out.append(fixed[1 + _RULE])
    if reprint:
        out.append(fixed[1 + _REPRINT])
    if copy == "merchant":
        out.append(fixed[1 + _SIGNATURE])
        out.append(b"")
        out.append(b"")
        out.append(fixed[1 + _AGREE])
        out.append(fixed[1 + _AGREE2])
    return out
