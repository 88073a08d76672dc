# Fuzz target: what a chip card answers, read as BER-TLV by the EMV kernel (app.emv.tlv), and
# the DOLs it sends (app.emv.dol): answers to SELECT (FCI, PPSE), GET PROCESSING OPTIONS (both
# formats), READ RECORD (certificates of a 1984-bit key's size, padding) and GENERATE AC,
# mutated byte by byte and object by object (lengths off by a little, objects wrapped in
# templates, nested, repeated, padding put in). Only TlvError and DolError may come out. An
# answer parse() takes must read the same when built again without its padding, and every
# primitive collect() gathers must be found by find(); DOL data is exactly as long as the DOL
# asks.
from fuzzlib import Oracle, below, chance, choose, random_bytes

from app.emv import dol, tlv

EXPECTED = (tlv.TlvError, dol.DolError)
TOKENS = (
    b"\x00",
    b"\xff",
    b"\x80",
    b"\x81",
    b"\x82\x01\x00",
    b"\x83\x00\x00\x01",
    b"\x9f",
    b"\xdf\x81",
    b"\xdf\x81\x81",
    b"\xbf\x0c",
    b"\x70\x00",
    b"\x61\x00",
)
TEMPLATES = (0x6F, 0xA5, 0x70, 0x77, 0xBF0C, 0x61, 0x71, 0xE1)
TAGS = (0x5A, 0x9F38, 0x9F4B, 0x90, 0x8C, 0x80, 0x94, 0xDF8101, 0x9F26, 0x00, 0x1F)
ANSWER = 0  # variant: a card's answer, to tlv
DOL = 1  # variant: a DOL, to dol
TERMINAL = {
    0x9F02: b"\x00\x00\x00\x01\x23\x45",
    0x9F1A: b"\x01\x56",
    0x5F2A: b"\x01\x56",
    0x9A: b"\x26\x12\x07",
    0x9C: b"\x00",
    0x9F37: b"\x1a\x2b\x3c\x4d",
    0x95: bytes(5),
    0x5A: b"\x62\x12\x34\x56\x78\x90\x12\x34",
    0x9F1C: b"TERM0001",
}
SEEDS = ()


def setup(workdir, root):
    global SEEDS
    b = tlv.build
    fci = b(
        0x6F,
        b(0x84, b"\xa0\x00\x00\x03\x33\x01\x01\x01")
        + b(
            0xA5,
            b(0x50, b"PBOC Debit")
            + b(0x87, b"\x01")
            + b(0x9F38, b"\x9f\x7a\x01\x9f\x02\x06\x5f\x2a\x02")
            + b(0xBF0C, b(0x9F4D, b"\x0b\x0a")),
        ),
    )
    entry = b(0x61, b(0x4F, b"\xa0\x00\x00\x03\x33\x01\x01") + b(0x87, b"\x01"))
    ppse = b(0x6F, b(0x84, b"2PAY.SYS.DDF01") + b(0xA5, b(0xBF0C, entry + entry)))
    record = b(
        0x70,
        b(0x5A, b"\x62\x12\x34\x56\x78\x90\x12\x34")
        + b(0x5F24, b"\x30\x12\x31")
        + b(0x8C, b"\x9f\x02\x06\x9f\x03\x06\x9f\x1a\x02\x95\x05\x9f\x37\x04"),
    )
    certificates = b(0x70, b(0x8F, b"\x83") + b(0x90, bytes(248)) + b(0x9F32, b"\x03"))
    answers = (
        fci,
        ppse,
        b(0x80, b"\x7c\x00\x08\x01\x01\x00"),
        b(0x77, b(0x82, b"\x7c\x00") + b(0x94, b"\x08\x01\x01\x00\x10\x01\x02\x01")),
        record,
        b"\x00\x00" + record + b"\xff\xff",
        certificates,
        b(0x77, b(0x9F27, b"\x80") + b(0x9F36, b"\x00\x01") + b(0x9F26, bytes(8))),
    )
    dols = (
        b"\x9f\x66\x04\x9f\x02\x06\x9f\x03\x06\x9f\x1a\x02\x95\x05\x5f\x2a\x02\x9a\x03\x9c\x01",
        b"\x9f\x02\x06\x9f\x03\x06\x9f\x1a\x02\x95\x05\x5f\x2a\x02\x9a\x03\x9c\x01\x9f\x37\x04",
        b"\x8a\x02\x9f\x02\x06\x9f\x37\x04",
        b"\x9f\x37\x04",
        b"\x5a\x0a\x9f\x1c\x04\x70\x03\xdf\x81\x01\x02",
    )
    SEEDS = tuple((ANSWER, (a,)) for a in answers) + tuple((DOL, (d,)) for d in dols)


def mutate(variant, pieces):
    data = pieces[0]
    op = below(5)
    at = below(len(data) + 1)
    if op == 0:  # the whole answer, or a part of it, wrapped in a template
        end = at + below(len(data) - at + 1)
        data = data[:at] + tlv.build(choose(TEMPLATES), data[at:end]) + data[end:]
    elif op == 1 and data:  # a length (or any byte) off by a little
        i = below(len(data))
        data = data[:i] + bytes(((data[i] + choose((-2, -1, 1, 2, 0x80))) & 0xFF,)) + data[i + 1 :]
    elif op == 2:  # an object put in, of a length near a boundary
        length = choose((0, 1, 0x7F, 0x80, 0xFF, 0x100, below(300)))
        data = data[:at] + tlv.build(choose(TAGS), random_bytes(length)) + data[at:]
    elif op == 3:  # padding
        data = data[:at] + choose((b"\x00", b"\xff")) * (1 + below(4)) + data[at:]
    else:  # a slice repeated: objects given twice
        end = at + below(24)
        data = data[:end] + data[at:end] + data[end:]
    if chance(8):
        variant = 1 - variant
    return variant, (data,)


def run(variant, pieces):
    data = pieces[0]
    if variant == DOL:
        out = dol.build(data, TERMINAL)
        if len(out) != dol.size(data):
            raise Oracle("DOL data of another length than the DOL asks")
        return
    top = [(tag, bytes(value)) for tag, value in tlv.parse(data)]
    rebuilt = b"".join(tlv.build(tag, value) for tag, value in top)
    if [(tag, bytes(value)) for tag, value in tlv.parse(rebuilt)] != top:
        raise Oracle("an answer built again reads otherwise")
    card = {}
    try:
        tlv.collect(data, card)
    except tlv.TlvError as exc:
        if exc.reason != tlv.TlvError.DUPLICATE:
            raise Oracle("collect refused what parse took: " + exc.reason) from None
    for tag in card:
        if tlv.find(data, tag) is None:
            raise Oracle("collect found %X, find does not" % tag)
