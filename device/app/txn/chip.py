"""A chip card in a financial request: the contact PBOC kernel's outcome (app.emv.kernel) as
the 0200's fields, and the host's answer back to the card (docs/transactions.md, the chip
sale; spec §2 fields 22, 23, 55, 60, §3.5, §6).

    from app.txn import chip

    k = chip.start(engine, reader, amount, choose=ui_choose, pin=ui_pin)
    if k.result == kernel.ONLINE:
        result = engine.run(Request("sale", amount, card=chip.ChipCard(k), pin=pin))
    elif k.result == kernel.FALLBACK:
        card = chip.fallback_card(swiped_track2)  # 22 = 02x, 60.5 = 2

Imported by the engine only when the request's card is a chip card or a fallback swipe; it
imports app.emv only for a chip card.
"""

from app.txn.api import Card, EngineError

# The kernel's modules (app.emv) are imported by the functions that use them: a fallback
# swipe needs none of them.

# Field 55 of a request (spec §2: the tags CUP hosts take with an ARQC, in the order of the
# spec's S4 dump). An acquirer asking for more or fewer changes this tuple.
REQUEST_TAGS = (
    0x9F26,  # application cryptogram
    0x9F27,  # cryptogram information data
    0x9F10,  # issuer application data
    0x9F37,  # unpredictable number
    0x9F36,  # ATC
    0x95,  # TVR
    0x9A,  # transaction date
    0x9C,  # transaction type
    0x9F02,  # amount, authorised
    0x5F2A,  # transaction currency
    0x82,  # AIP
    0x9F1A,  # terminal country
    0x9F03,  # amount, other
    0x9F33,  # terminal capabilities
    0x9F34,  # CVM results
    0x9F35,  # terminal type
    0x9F1E,  # IFD serial number
    0x84,  # dedicated file name (the AID)
    0x9F09,  # application version (terminal)
    0x9F41,  # transaction sequence counter
)
# Field 55 of a reversal (spec §3.5: 95, 9F1E, 9F10, 9F36 mandatory, DF31 the scripts'
# results).
REVERSAL_TAGS = (0x95, 0x9F1E, 0x9F10, 0x9F36, 0xDF31)
# What a chip sale's journal record keeps for its slip and its reprint (app.txn.receipt):
# application label, AID, cryptogram, its type, TVR, TSI, ATC. Not the e-cash balance (9F5D):
# an online sale spent no e-cash (an offline one's record has it in its 55).
SLIP_TAGS = (0x50, 0x84, 0x9F26, 0x9F27, 0x95, 0x9B, 0x9F36)
# What the journal's IC record keeps of a TC for the batch's IC detail upload.
UPLOAD_TAGS = REQUEST_TAGS
# The kinds whose approval the card has a say in: a sale, a pre-authorisation, a balance
# inquiry (the money or the hold is the card's). A refund, a void or a cancel read by chip
# gives the money back: the host decides it alone, and the card's second GENERATE AC (an
# AAC as well as a TC) closes the card's transaction without undoing the host's approval.
CARD_DECIDES = ("sale", "preauth", "balance")
# 9C of each kind read by chip (PBOC part 5 Annex A; app.emv.terminal.TYPES): a void or a
# cancel is 20, as a refund.
EMV_KIND = {"sale": "sale", "preauth": "preauth", "balance": "balance", "completion": "sale"}


class ChipCard(Card):
    """The card of a chip transaction: PAN, expiry and track 2 equivalent (57) from the card,
    entry mode 05 (contact IC); `kernel` the transaction in progress (its first GENERATE AC
    answered ARQC)."""

    def __init__(self, kernel):
        super().__init__(track2=kernel.track2(), pan=kernel.pan(), expiry=kernel.expiry())
        self.entry = "05"
        self.kernel = kernel
        self.notice = False  # the issuer's scripts ran: a script result notice is kept


def fallback_card(track2):
    """The magnetic stripe swiped after the chip failed (kernel outcome FALLBACK): entry
    mode 02 and 60.5 = 2 (spec §2, §5: S1 keeps 02 and marks the fallback in 60.5)."""
    card = Card(track2=track2)
    card.fallback = True
    return card


def emv_kind(request_kind):
    """The kernel's transaction type (9C) for a request of `request_kind` (a name of
    app.txn.messages): sale 00, preauth 03, balance 31, refund and every void or cancel 20."""
    return EMV_KIND.get(request_kind, "refund")


def start(engine, reader, amount, choose=None, pin=None, kind="sale"):
    """A chip transaction of `amount` fen on `reader` (app.emv.kernel.Kernel) with the AIDs
    and CA keys the host downloaded (app.store.icsets), started: up to its first GENERATE AC.
    `choose` and `pin`: the Kernel's callbacks (the UI's). `kind`: the kernel's (emv_kind of
    the request's: a refund read by chip is started with kind="refund")."""
    k = kernel(engine, reader, amount, choose, pin, kind)
    k.start()
    return k


def kernel(engine, reader, amount, choose=None, pin=None, kind="sale"):
    """The Kernel start() starts, not started yet: a `pin` callback that needs the card's
    number (the PIN pad's block) reads it from the kernel once the card's records are in. A
    card on the black list (Engine.listed) ends TERMINATED "blacklisted" once its records are
    read: no PIN asked, nothing sent."""
    from app.emv import kernel as emv
    from app.store.icsets import ICSets

    sets = ICSets(engine._store.root)
    return emv.Kernel(
        reader,
        terminal_data(engine, amount, kind),
        emv.aids_from(sets),
        emv.ca_key_from(sets),
        choose=choose,
        pin=pin,
        listed=lambda pan: _listed(engine, pan),
    )


def _listed(engine, pan):
    # The black list asked as the cashier's swipe asks it: a list that cannot be read is the
    # engine's to report (its own check before the request).
    try:
        return engine.listed(pan)
    except (OSError, ValueError):
        return False


def keep(engine, entry, card, result):
    """After approved chip transaction `entry` (its journal Entry) is journaled: the TC's
    field 55, the PSN, the card number, amount and entry mode kept for the batch's IC detail
    upload (app.txn.icdata, app.txn.icupload), when the card gave a TC; then the script
    result notice, if one is kept. A flash failure here leaves the sale approved (its
    journal record is written), noted for the cashier."""
    from app.emv import kernel as emv

    k = card.kernel
    # No TC (a refund or void the card closed with an AAC): nothing to upload.
    if k.result == emv.APPROVED:
        from app.txn import icdata

        psn = k.card.get(0x5F34)
        try:
            icdata.keep(
                engine,
                entry.stan,
                psn[0] if psn else None,
                k.field55(UPLOAD_TAGS),
                card.pan,
                entry.amount,
                entry.entry_mode,
            )
        except OSError as exc:
            result.notes.append("IC data not kept: %s" % exc)
    if card.notice:
        _notice_now(engine, result)


def answered(engine, result, k, card, fields, got):
    """The host's answer (`got`: its fields) to request `fields` of Kind `k` gone to the card
    (complete). A card that declines what the host approved undoes a sale, a
    pre-authorisation or an inquiry (CARD_DECIDES: card_declined, EngineError); anything
    else stands, noted. When the issuer's scripts ran, their notice is kept: sent now after a
    decline, after the journal's record (keep) after an approval."""
    if not complete(card, got) and result.approved:
        if k.name in CARD_DECIDES:
            card_declined(engine, result, k, card, fields, got)
        result.notes.append("card: AAC; the host's approval stands")
    card.notice = scripts_ran(engine, fields, card, got, result)
    if card.notice and not result.approved:
        _notice_now(engine, result)


def _notice_now(engine, result):
    # In the transaction's connection; kept for the next request if it cannot go now.
    from app import forget
    from app.comm.frames import CommError
    from app.txn import scriptnotice

    try:
        scriptnotice.deliver(engine, result)
    except CommError:
        pass  # the cashier cancelled: it goes before the next request
    scriptnotice = None
    forget("app.txn.scriptnotice")


def scripts_ran(engine, fields, card, got, result):
    """After the card's second GENERATE AC: when the issuer's scripts ran, the script result
    notice (0620) is kept, to go once the transaction is done (app.txn.scriptnotice).
    Returns True when there is one."""
    if not card.kernel.scripts:
        return False
    from app.txn import scriptnotice

    try:
        return scriptnotice.keep(engine, fields, card, got, result)
    except OSError as exc:
        result.notes.append("script result notice not kept: %s" % exc)
        return False


def slip_data(card):
    """What the sale's journal record keeps for its slip and reprint (app.txn.receipt): the
    application label (50), then SLIP_TAGS as the card's TC left them."""
    k = card.kernel
    out = bytearray()
    if k.label:
        from app.emv import tlv

        out.extend(tlv.build(0x50, k.label.encode()))
    out.extend(k.field55(SLIP_TAGS[1:]))
    return bytes(out)


def terminal_data(engine, amount, kind="sale"):
    """app.emv.terminal.TerminalData of a transaction of `amount` fen on `engine` (its
    application's parameters and clock)."""
    params = engine.params
    from app.emv import terminal

    return terminal.TerminalData(
        amount,
        engine.clock.now(),
        kind=kind,
        terminal_id=params["terminal_id"],
        merchant_id=params["merchant_id"],
        merchant_name=params["merchant_name"] or b"",
    )


def field60(app, fallback):
    """60.3-60.6 of a chip or fallback request: 000, 5 (contact IC capable), 0 or 2
    (fallback), and 60.6 from the application's capability parameter."""
    capability = app["field60_capability"] or "200"
    return "0005" + ("2" if fallback else "0") + capability[2:3]


def add_request_fields(fields, card, stan):
    """Fields 2, 14, 23, 55 of a chip request (35 is 57's, already there)."""
    from app.emv import terminal

    k = card.kernel
    k.term.set(0x9F41, terminal.bcd(stan, 4))  # the sequence counter: the STAN
    fields[2] = card.pan
    fields[14] = card.expiry
    psn = k.card.get(0x5F34)
    if psn is not None and len(psn):
        fields[23] = "%03X" % psn[0]  # spec: S1's %03X of 5F34, right-aligned n3
    fields[55] = k.field55(REQUEST_TAGS)


def reversal_fields(fields, card):
    """The fields to keep for the reversal: 55 as the reversal's subset."""
    out = dict(fields)
    out[55] = _reversal55(card.kernel)
    return out


def _reversal55(k):
    if k.scripts:
        k.term.set(0xDF31, bytes(k.scripts))
    return k.field55(REVERSAL_TAGS)


def complete(card, answer):
    """The host's answer (`answer`: its fields) to the card: issuer authentication, scripts,
    second GENERATE AC. Returns True when the card approves (TC), False when it declines;
    `card.kernel.reason` says why."""
    from app.emv import kernel as emv

    return card.kernel.complete(answer.get(55), answer.get(39)) == emv.APPROVED


def unable_online(card):
    """The host could not be reached or its answer was not valid: the card gets the second
    GENERATE AC of "unable to go online" (an AAC: this terminal approves offline never)."""
    card.kernel.complete(None)


def card_declined(engine, result, k, card, fields, got):
    """The host approved, the card declined at its second GENERATE AC (an AAC): the approval
    is reversed (spec §6: reason 06, 38 the auth code) with the card's final 55 (its TVR,
    ATC, IAD, the scripts' results), sent at once while the line is open (if it cannot be, it
    stays pending for the next request); the sale is not approved: EngineError
    "card_declined"."""
    result.approved = False
    if k.has("R"):
        reversal = dict(fields)
        reversal[55] = _reversal55(card.kernel)
        if got.get(38):
            reversal[38] = got[38]
        engine._presend(k.mti, reversal)  # reason 06
        try:
            engine._send_reversal(result)
        except EngineError:
            pass  # kept: it goes before the next request
    raise EngineError("card_declined", "card: " + (card.kernel.reason or "AAC"))
