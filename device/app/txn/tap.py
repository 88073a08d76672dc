"""A contactless (qPBOC) card in a financial request: the tap's outcome (app.emv.qpboc) as
the 0200's fields (docs/transactions.md, the chip sale; spec §2 fields 22, 23, 35, 55, 60;
§7.1 is such a 0200).

    from app.txn import tap

    outcome = qpboc.transact(reader, term, sets)          # ONLINE: the card's ARQC
    card = tap.TapCard(outcome)
    result = engine.run(Request("sale", amount, card=card, pin=pin))

The engine calls this module as it calls app.txn.chip for a contact card (the same function
names): field 22 is 07x (071 with a PIN, 072 without), 60.4 is 6 (contactless), 55 the
tap's field 55 with the ARQC, 23 the PSN, 35 the track 2 equivalent (57). There is no second
GENERATE AC: the card left the field after its GPO, so the host's answer alone decides, and
an approval keeps the ARQC's 55 for the batch's IC upload (app.txn.icdata) -- the cryptogram
the issuer checked.
"""

from app.txn.api import Card

# Field 55 of a reversal (spec §3.5: 95, 9F1E, 9F10, 9F36 mandatory).
REVERSAL_TAGS = (0x95, 0x9F1E, 0x9F10, 0x9F36)


class TapCard(Card):
    """The card of a tap the card sent online (qpboc.ONLINE): PAN, expiry and track 2
    equivalent (57) from the card, entry mode 07 (contactless chip); `outcome` the tap's."""

    tap = True

    def __init__(self, outcome):
        track2 = None
        if outcome.track2 is not None:
            from binascii import hexlify

            track2 = hexlify(outcome.track2).decode().upper().rstrip("F").replace("D", "=")
        super().__init__(track2=track2, pan=outcome.pan, expiry=outcome.expiry, entry="07")
        self.outcome = outcome


def field60(app, fallback=False):
    """60.3-60.6 of a contactless request: 000, 6 (contactless capable), 0, and 60.6 from
    the application's capability parameter."""
    capability = app["field60_capability"] or "200"
    return "00060" + capability[2:3]


def add_request_fields(fields, card, stan):
    """Fields 2, 14, 23, 55 of a contactless request (22 and 35 are the Card's)."""
    outcome = card.outcome
    fields[2] = card.pan
    if card.expiry:
        fields[14] = card.expiry
    if outcome.psn is not None:
        fields[23] = "%03X" % int(outcome.psn, 16)
    fields[55] = outcome.field55


def reversal_fields(fields, card):
    """The fields to keep for the reversal: 55 as the reversal's subset."""
    out = dict(fields)
    out[55] = subset(card.outcome.field55, REVERSAL_TAGS)
    return out


def subset(field55, tags):
    """The TLV objects of `field55` (bytes) whose tag is one of `tags`, in `tags`' order."""
    from app.emv import tlv

    found = {}
    tlv.collect(field55, found)
    out = bytearray()
    for tag in tags:
        value = found.get(tag)
        if value is not None:
            out.extend(tlv.build(tag, value))
    return bytes(out)


def unable_online(card):
    """Nothing to tell the card: it left the field after its GPO."""


def answered(engine, result, k, card, fields, got):
    """Nothing goes back to the card (no second GENERATE AC after a tap): the host's answer
    decides alone, and there are no issuer scripts to report."""


def keep(engine, entry, card, result):
    """Keep the ARQC's field 55, the PSN, the card number, amount and entry mode of approved
    tap `entry` (its journal Entry) for the batch's IC detail upload (app.txn.icdata,
    app.txn.icupload): the tap's ARQC stands where a contact card's TC would. A flash failure
    leaves the sale approved, noted."""
    from app.txn import icdata

    outcome = card.outcome
    try:
        icdata.keep(
            engine,
            entry.stan,
            int(outcome.psn, 16) if outcome.psn else None,
            outcome.field55,
            card.pan,
            entry.amount,
            entry.entry_mode,
        )
    except OSError as exc:
        result.notes.append("IC data not kept: %s" % exc)


def slip_data(card):
    """What the sale's journal record keeps for its slip (app.txn.chip.SLIP_TAGS of the
    tap's 55, and its application label)."""
    return slip_tlv(card.outcome.label, card.outcome.field55)


def slip_tlv(label, field55):
    """The slip's TLV: 50 `label` (bytes or None), then SLIP_TAGS found in `field55`."""
    from app.emv import tlv
    from app.txn.chip import SLIP_TAGS

    out = tlv.build(0x50, label) if label else b""
    return out + subset(field55, SLIP_TAGS[1:])
