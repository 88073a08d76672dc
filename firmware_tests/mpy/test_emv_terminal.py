# The terminal's EMV data of a transaction (app.emv.terminal): what the card's DOLs get.
import binascii

from app.emv import dol, terminal

NOW = (2026, 12, 7, 18, 55, 0)


def h(text):
    return binascii.unhexlify(text)


def data(**kw):
    return terminal.TerminalData(
        1234, NOW, terminal_id="10000001", merchant_id="123456789012345", **kw
    )


def test_a_cdol1_gets_amount_date_type_country_and_a_fresh_unpredictable_number():
    term = data()
    cdol1 = h("9F02069F03069F1A0295055F2A029A039C019F3704")
    out = dol.build(cdol1, term)
    assert out[:25] == h(
        "000000001234" + "000000000000" + "0156" + "0000000000" + "0156" + "261207" + "00"
    )
    assert out[25:] == term[0x9F37] and len(out) == 29
    assert data()[0x9F37] != term[0x9F37]  # os.urandom: two transactions, two numbers


def test_tvr_and_tsi_bits_set_by_the_kernel_reach_the_next_dol():
    term = data()
    term.set_tvr(terminal.SDA_FAILED)
    term.set_tvr(terminal.OVER_FLOOR_LIMIT)
    term.set_tsi(terminal.TSI_ODA)
    assert dol.build(h("9505"), term) == h("4000008000")
    assert dol.build(h("9B02"), term) == h("8000")
    assert term.tvr_has(terminal.SDA_FAILED) and not term.tvr_has(terminal.DDA_FAILED)


def test_the_aid_parameters_give_version_and_floor_limit_and_the_card_fills_the_rest():
    term = data(kind="refund", merchant_name=b"SHOP")
    term.application(h("A000000333010101"), {0x9F09: h("0030"), 0x9F1B: h("00002710")})
    term.card = {0x9F36: h("0007"), 0x9C: h("99")}
    assert term.floor_limit() == 10000
    assert dol.build(h("9F09029F36029C019F3501"), term) == h("0030" + "0007" + "20" + "22")
    assert dol.build(h("9F4E069F1C08"), term) == b"SHOP\x00\x0010000001"


def test_an_unknown_kind_or_an_amount_too_big_is_refused():
    for bad in (dict(kind="transfer"),):
        try:
            data(**bad)
        except ValueError:
            pass
        else:
            raise AssertionError("accepted " + repr(bad))
    try:
        terminal.TerminalData(10**12, NOW)
    except ValueError:
        return
    raise AssertionError("accepted an amount of 13 digits")
