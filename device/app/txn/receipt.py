"""Receipt lines (签购单) for a journal entry: merchant copy and cardholder copy, as lists of
byte strings of at most 32 columns, for the 58 mm printer (drivers/escpos.py prints lines).

Text is GB18030, the printer font ROM's encoding: ASCII for the English labels, a few Chinese
labels as GB18030 bytes written out here (MicroPython has no GB18030 codec), and the
merchant name as the parameters carry it (GB18030 bytes, docs/packets.md). A Chinese
character is two bytes and prints two columns wide, so bytes count as columns, and a long
name is wrapped between characters, never inside one.

    lines(entry, params, copy="merchant", reprint=False)
    settlement_lines(settlement, params, date, time, operator)   # the settlement slip (结算单)
    type_lines([(kind, count, fen), ...])       # its totals per transaction type (分类汇总)
"""

import binascii

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

WIDTH = const(32)

# 60.1 code, English name, GB18030 hex of the Chinese name. Bytes, as every table and piece of
# the slip: its lines are bytes, and each str MicroPython makes is first looked up in its
# string table, a search through the application's 1,500 names when they are loaded from
# .mpy or source (about 12,000 instructions), where bytes are not. A merchant copy's lines
# took 1,900,000 instructions, now 720,000 (firmware_tests/bench/txn.py's slip under
# callgrind, 64-bit unix port).
_KINDS = b"""22 SALE cffbb7d1
23 VOID cffbb7d1b3b7cffa
25 REFUND cdcbbbf5
10 PRE-AUTH d4a4cadac8a8
11 PRE-AUTH_VOID d4a4cadac8a8b3b7cffa
20 AUTH_COMPLETE d4a4cadac8a8cdeab3c9
24 AUTH_SETTLE d4a4cadac8a8cdeab3c928cda8d6aa29
21 COMPLETE_VOID d4a4cadac8a8cdeab3c9b3b7cffa
36 EC_SALE b5e7d7d3cfd6bdf0cffbb7d1"""
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
    b"\nBANK COPY \xd2\xf8\xd0\xd0\xb4\xe6\xb8\xf9"  # 银行存根
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
_BANK_COPY = const(10)
_LABELS = (
    b"|MERCHANT NO: "
    b"|TERMINAL NO: "
    b"|%s OPER: %s"
    b"|ACQUIRER: "
    b"|CARD NO: "
    b"|BATCH NO: "
    b"|%06d VOUCHER: %06d"
    b"|AUTH NO: "
    b"|REF NO: "
    b"|DATE/TIME: "
    b"|%s/%s/%s %s:%s:%s"
    b"|ORIG VOUCHER: "
    b"|AMOUNT: RMB "
    b"|"
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

# The settlement slip's own lines, after a newline each, read as _LINES is.
_SETTLE = (
    b"\nPOS \xbd\xe1\xcb\xe3\xb5\xa5 SETTLEMENT"  # 结算单
    b"\nDEBIT \xbd\xe8\xbc\xc7: "  # 借记
    b"\nCREDIT \xb4\xfb\xbc\xc7: "  # 贷记
    b"\nDOMESTIC \xc4\xda\xbf\xa8 "  # 内卡
    b"\nFOREIGN \xcd\xe2\xbf\xa8 "  # 外卡
    b"\nUPLOADED \xc9\xcf\xcb\xcd: "  # 上送
    b"\n\xb6\xd4\xd5\xcb\xc6\xbd"  # 对账平
    b"\n\xb6\xd4\xd5\xcb\xb2\xbb\xc6\xbd"  # 对账不平
    b"\n\xb6\xd4\xd5\xcb\xb3\xf6\xb4\xed"  # 对账出错
    b"\nBY TYPE \xb7\xd6\xc0\xe0\xbb\xe3\xd7\xdc"  # 分类汇总
    b"\n"
)
_S_TITLE = const(0)
_S_DEBIT = const(1)
_S_CREDIT = const(2)
_S_DOMESTIC = const(3)
_S_FOREIGN = const(4)
_S_UPLOADED = const(5)
_S_BALANCED = const(6)
_S_UNBALANCED = const(7)
_S_ERROR = const(8)
_S_BY_TYPE = const(9)


def kind_label(kind):
    """(English, GB18030 Chinese) name of a transaction kind code."""
    at = (b"\n" + _KINDS).find(b"\n%d " % kind)  # the table's line of the code, found in place
    if at < 0:
        return b"TXN %d" % kind, b""
    end = _KINDS.find(b"\n", at)
    _, english, chinese = _KINDS[at : end if end > 0 else len(_KINDS)].split()
    return english.replace(b"_", b" "), binascii.unhexlify(chinese)


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
    # "LABEL: value", shortened to the width (values are ASCII, str or bytes).
    if isinstance(value, str):
        value = value.encode()
    return (label + value)[:WIDTH]


def _merchant(out, params, operator, fixed, label):
    # Merchant name, merchant number, terminal number and operator, acquirer.
    out.append(fixed[1 + _MERCHANT_NAME])
    out.extend(wrap(params["merchant_name"] or b""))
    out.append(_pair(label[1 + _L_MERCHANT_NO], params["merchant_id"]))
    operator = label[1 + _L_OPERATOR] % (params["terminal_id"].encode(), operator.encode())
    out.append(_pair(label[1 + _L_TERMINAL_NO], operator))
    out.append(_pair(label[1 + _L_ACQUIRER], params["name"] or ""))


def _when(label, date, time):
    date, time = date.encode(), time.encode()  # cut as bytes: no str made a piece
    when = (date[:4], date[4:6], date[6:8], time[:2], time[2:4], time[4:6])
    return _pair(label[1 + _L_DATE_TIME], label[1 + _L_DATE_FORMAT] % when)


def lines(entry, params, copy="merchant", reprint=False):
    """The slip of journal `entry` (app.store.journal.Entry) for application `params`
    (app.store.params.Params of the application): "merchant", "cardholder" or "bank"
    copy (the merchant's and the bank's with the signature lines)."""
    # The tables split once a slip (a label or line is then one index), after their
    # leading separator: entry n of a table is at n + 1.
    fixed = _LINES.split(b"\n")
    label = _LABELS.split(b"|")
    if copy == "merchant":
        which = _MERCHANT_COPY
    else:
        which = _BANK_COPY if copy == "bank" else _CARDHOLDER_COPY
    out = [fixed[1 + _TITLE], fixed[1 + which]]
    out.append(fixed[1 + _RULE])
    _merchant(out, params, entry.operator, fixed, label)
    mode = entry.entry_mode.encode()[:2]
    how = {b"01": b"M", b"02": b"S", b"05": b"I", b"07": b"C"}.get(mode, b"")
    out.append(_pair(label[1 + _L_CARD_NO], b"%s %s" % (entry.pan_masked.encode(), how)))
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
    out.append(_when(label, entry.date, entry.time))
    if entry.original_stan:
        out.append(_pair(label[1 + _L_ORIG_VOUCHER], b"%06d" % entry.original_stan))
    sign = b"-" if entry.kind in _NEGATIVE else b""
    fen = entry.amount
    out.append(_pair(label[1 + _L_AMOUNT], b"%s%d.%02d" % (sign, fen // 100, fen % 100)))
    out.append(fixed[1 + _RULE])
    if mode in (b"05", b"07") or entry.fallback:
        chip_lines(out, mode, entry.fallback, entry.ic_data)
        out.append(fixed[1 + _RULE])
    if reprint:
        out.append(fixed[1 + _REPRINT])
    if copy != "cardholder":  # the merchant's and the bank's copies are signed
        out.append(fixed[1 + _SIGNATURE])
        out.append(b"")
        out.append(b"")
        out.append(fixed[1 + _AGREE])
        out.append(fixed[1 + _AGREE2])
    return out


# The chip lines' entry modes and labels (GB18030 written out, as _LINES).
_MODE_IC = b"ENTRY: IC \xb2\xe5\xbf\xa8"  # 插卡
_MODE_TAP = b"ENTRY: CONTACTLESS \xb7\xc7\xbd\xd3"  # 非接
_MODE_FALLBACK = b"ENTRY: SWIPE \xcb\xa2\xbf\xa8(\xbd\xb5\xbc\xb6)"  # 刷卡(降级)
_BALANCE = b"EC BAL \xd3\xe0\xb6\xee: RMB "  # 余额
_CRYPTOGRAMS = (b"AAC", b"TC", b"ARQC", b"RFU")  # 9F27 bits 8-7


def chip_lines(out, mode, fallback, data):
    """The chip lines of a slip, appended to `out`: how the card was read (IC, contactless,
    a fallback swipe), then from the record's IC data `data` (TLV: app.txn.chip.SLIP_TAGS,
    or an offline sale's 55) the application label, the AID, the cryptogram by its type
    (TC, ARQC, AAC), TVR and TSI, the ATC, and the e-cash balance the card gave (9F5D or
    9F79). Never the PAN: the card number line is masked."""
    if fallback:
        out.append(_MODE_FALLBACK)
        return
    out.append(_MODE_TAP if mode == b"07" else _MODE_IC)
    tags = _tags(data)
    hexed = binascii.hexlify
    name = tags.get(0x50) or tags.get(0x9F12)
    if name:
        out.append(b"APP LABEL: " + bytes(name)[:16])
    aid = tags.get(0x84) or tags.get(0x4F)
    if aid:
        out.append(b"AID: " + hexed(aid).upper())
    cryptogram = tags.get(0x9F26)
    if cryptogram:
        info = tags.get(0x9F27)
        kind = _CRYPTOGRAMS[info[0] >> 6] if info else b"AC"
        out.append(_pair(kind + b": ", hexed(cryptogram).upper()))
    tvr, tsi = tags.get(0x95), tags.get(0x9B)
    if tvr:
        line = b"TVR: " + hexed(tvr).upper()
        if tsi:
            line += b" TSI: " + hexed(tsi).upper()
        out.append(line)
    atc = tags.get(0x9F36)
    if atc:
        out.append(b"ATC: " + hexed(atc).upper())
    balance = tags.get(0x9F5D) or tags.get(0x9F79)
    if balance:
        try:
            out.append(_BALANCE + amount_text(int(hexed(balance))).encode())
        except ValueError:
            pass  # not BCD: not printed rather than printed wrong


def _tags(data):
    # {tag: value} of the flat TLV `data` (1- or 2-byte tags, lengths up to 255): a record's
    # IC data, which the terminal wrote itself. Stops at anything that does not hold up.
    found = {}
    i, end = 0, len(data)
    while i + 2 <= end:
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:
            tag = tag << 8 | data[i]
            i += 1
        if i >= end:
            break
        n = data[i]
        i += 1
        if n == 0x81 and i < end:
            n = data[i]
            i += 1
        if n > 0x81 or i + n > end:
            break
        found[tag] = data[i : i + n]
        i += n
    return found


def settlement_lines(settlement, params, date, time, operator):
    """The settlement slip (结算单) of `settlement` (Result.settlement: batch, the terminal's
    totals, the host's flags and how each section was read, records uploaded) for
    application `params`, settled at `date` (YYYYMMDD) `time` (hhmmss) by `operator`. It
    prints what the host said: each section's flag as received, and its reading."""
    fixed = _LINES.split(b"\n")
    label = _LABELS.split(b"|")
    own = _SETTLE.split(b"\n")
    out = [own[1 + _S_TITLE], fixed[1 + _RULE]]
    _merchant(out, params, operator, fixed, label)
    out.append(_pair(label[1 + _L_BATCH_NO], b"%06d" % settlement["batch"]))
    out.append(_when(label, date, time))
    out.append(fixed[1 + _RULE])
    debit, debit_count, credit, credit_count = settlement["terminal"]
    out.append(own[1 + _S_DEBIT] + ("%d RMB %s" % (debit_count, amount_text(debit))).encode())
    out.append(own[1 + _S_CREDIT] + ("%d RMB %s" % (credit_count, amount_text(credit))).encode())
    flags = settlement["flags"]
    for i in range(2):
        state = settlement["foreign" if i else "domestic"]
        line = own[1 + (_S_FOREIGN if i else _S_DOMESTIC)]
        out.append(line + ("(%s): %s" % (flags[i], state.upper())).encode())
    if settlement["uploaded"]:
        out.append(own[1 + _S_UPLOADED] + str(settlement["uploaded"]).encode())
    if settlement["balanced"]:
        out.append(own[1 + _S_BALANCED])
    else:
        error = "error" in (settlement["domestic"], settlement["foreign"])
        out.append(own[1 + (_S_ERROR if error else _S_UNBALANCED)])
    out.append(fixed[1 + _RULE])
    return out


def type_lines(totals):
    """The settlement slip's totals per transaction type (分类汇总): a heading, then a line
    a type, its Chinese name, count and amount, from `totals` [(kind code, count, fen)]
    (the UI counts the batch before it is settled: the journal is cleared after)."""
    out = [_SETTLE.split(b"\n")[1 + _S_BY_TYPE]]
    for kind, count, fen in totals:
        name = kind_label(kind)[1] or kind_label(kind)[0]
        name = name[:16] + b" " * (16 - len(name))  # the longest is 16 bytes
        sign = "-" if kind in _NEGATIVE else ""
        out.append(name + ("%3d%13s" % (count, sign + amount_text(fen))).encode())
    return out
