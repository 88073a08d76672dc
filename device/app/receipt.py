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

_TITLE = b"POS \xc7\xa9\xb9\xba\xb5\xa5 SALES SLIP"  # 签购单
_MERCHANT_COPY = b"MERCHANT COPY \xc9\xcc\xbb\xa7\xb4\xe6\xb8\xf9"  # 商户存根
_CARDHOLDER_COPY = b"CARDHOLDER COPY \xb3\xd6\xbf\xa8\xc8\xcb\xb4\xe6\xb8\xf9"  # 持卡人存根
_REPRINT = b"*** REPRINT \xd6\xd8\xb4\xf2\xd3\xa1 ***"  # 重打印
_SIGNATURE = b"SIGNATURE \xb3\xd6\xbf\xa8\xc8\xcb\xc7\xa9\xc3\xfb:"  # 持卡人签名
_AGREE = b"I ACKNOWLEDGE SATISFACTORY"
_AGREE2 = b"RECEIPT OF RELATIVE GOODS"
_RULE = b"-" * 32


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
    out = [_TITLE, _MERCHANT_COPY if copy == "merchant" else _CARDHOLDER_COPY, _RULE]
    out.append(b"MERCHANT NAME:")
    out.extend(wrap(params["merchant_name"] or b""))
    out.append(_pair("MERCHANT NO: ", params["merchant_id"]))
    out.append(_pair("TERMINAL NO: ", "%s OPER: %s" % (params["terminal_id"], entry.operator)))
    out.append(_pair("ACQUIRER: ", params["name"] or ""))
    mode = entry.entry_mode[:2]
    how = {"01": "M", "02": "S", "05": "I", "07": "C"}.get(mode, "")
    out.append(_pair("CARD NO: ", "%s %s" % (entry.pan_masked, how)))
    english, chinese = kind_label(entry.kind)
    line = b"TXN TYPE: " + english
    if len(line) + 1 + len(chinese) <= WIDTH:
        out.append(line + b" " + chinese)
    else:  # the Chinese name on a line of its own, under the English one
        out.append(line[:WIDTH])
        out.append(b" " * 10 + chinese)
    out.append(_pair("BATCH NO: ", "%06d VOUCHER: %06d" % (entry.batch, entry.stan)))
    if entry.auth_code:
        out.append(_pair("AUTH NO: ", entry.auth_code))
    if entry.rrn:
        out.append(_pair("REF NO: ", entry.rrn))
    date, time = entry.date, entry.time
    out.append(
        _pair(
            "DATE/TIME: ",
            "%s/%s/%s %s:%s:%s" % (date[:4], date[4:6], date[6:8], time[:2], time[2:4], time[4:6]),
        )
    )
    if entry.original_stan:
        out.append(_pair("ORIG VOUCHER: ", "%06d" % entry.original_stan))
    sign = "-" if entry.kind in _NEGATIVE else ""
    out.append(_pair("AMOUNT: RMB ", sign + amount_text(entry.amount)))
    out.append(_RULE)
    if reprint:
        out.append(_REPRINT)
    if copy == "merchant":
        out.append(_SIGNATURE)
        out.append(b"")
        out.append(b"")
        out.append(_AGREE)
        out.append(_AGREE2)
    return out
