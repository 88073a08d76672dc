# TR-31 key block unwrap on MicroPython: published vectors, blocks made by psec, refusals.
from binascii import unhexlify as h

from app.crypto import cipher, tr31

# TR-31:2018 Annex A.7.2.2: version B, 2-key TDES KBPK, P0 key.
A722_KBPK = h("DD7515F2BFC17F85CE48F3CA25CB21F6")
A722 = "B0080P0TE00E000094B420079CC80BA3461F86FE26EFC4A3B8E4FA4C5F5341176EED7B727B8A248E"
A722_KEY = h("3F419E1CB7079442AA37474C2EFBF8B8")
# TR-31:2018 Annex A.7.3.2: version B with an optional block (KS).
A732_KBPK = h("1D22BF32387C600AD97F9B97A51311AC")
A732 = (
    "B0104B0TX12S0100KS1800604B120F9292800000"
    "BB68BE8680A400D9191AD4ECE45B6E6C0D21C4738A52190E248719E24B433627"
)
A732_KEY = h("E8BC63E5479455E26577F715D587FE68")
# TR-31:2018 Annex A.7.4: version D, AES-256 KBPK.
A74_KBPK = h("88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6")
A74 = (
    "D0112P0AE00E0000B82679114F470F540165EDFBF7E250FCEA43F810D215F8D2"
    "07E2E417C07156A27E8E31DA05F7425509593D03A457DC34"
)
# ISO 20038:2017 B.3 (the wrapped key as its MAC input shows it).
ISO_KBPK = b"256-bit AES wrapping (ISO 20038)"
ISO = (
    "D0112M3TV16N000018462FA5903B8D2B82FEE26B29713C0BE7ED81601087F122"
    "52093D06FC0A012C1CF769AD0E3E9E4877166AB013FC22B4"
)
ISO_KEY = h("76736170706464203245455220 6B6479".replace(" ", ""))
# Made on a Thales payShield 10k (published in the openemv/tr31 tests): one K0 key in
# versions A, B and C, and a version D data key under an AES-256 KBPK.
THALES_KBPK = h("EFE0853B256B583D868F251CE99EA1D9")
THALES_A = "A0072K0TN00N0000F40D5672C6D0EC86F860BA88D44D00F0CA9A8CE8CD2F640287A9A9EB"
THALES_B = "B0080K0TN00N00001C414014375212C24995E405B5EE052CB92B67F455EA2680F6751088F9F1C228"
THALES_C = "C0072K0TN00N0000C9B875FF7A5316BF221C09ED52080DE0B45632A4EA9CE87699CB565E"
THALES_KEY = h("5DB50B454F8389ADCE573BE50861F2BF")
THALES_D_KBPK = b"A" * 32
THALES_D = (
    "D0144D0AN00N0000127862F945C2DED04530FAF7CDBC8B0BA10C7AA79BD5E0C2C5D6AC173BF588E4"
    "B19ACF1357178D50EA0AB193228E13958304FC6149632DFDCADF3A5B3D57E814"
)
THALES_D_KEY = h("BE19E6A07A760F10EF8E83A226B63AAD141F463FDDD4F47DB244B4023EC3CACC")

# Made with psec.tr31.wrap (the host's reference): the spec's TMK under an AES-128 KBPK.
K128 = h("89E88CF7931444F334BD7547FC3F380C")
TMK = h("70F2A84CCBC2AE8625CBB0F2C22AB923")
D128_K0 = (
    "D0112K0TD00N0000A46BE9B48CAC657C1FE9251226CA0B78BC82CCE4A4F34AD3FD32953FC468CE88"
    "19005B3D604FC7F5E26B0DCF54EEF8C4"
)
D128_K0_OPT = (
    "D0160K0TB00N0300TT0Fposkit testKS1800604B120F9292800000PB09000000AF13EE70D2E091CD0B"
    "456551DDF21F8F89039F77806F8C6134CDDF712C8132C460E44211242EC344161AF3435F0F275"
)
# An optional block longer than 255 characters: extended length "0002" "0136".
K256 = A74_KBPK
D256_EXT = (
    "D0432K1TN00N0200TT00020136" + "x" * 300 + "PB0A000000"
    "1A27EBC300D2144DB83E2EE61455F6DA1A234EB3398C1D6390A26736188816571AD5837A90F84163"
    "A4B855F0E5E5399F"
)
B24 = h("1D22BF32387C600AD97F9B97A51311ACB8ED59E0A279A295")
B24_K1 = (
    "B0096K1TB00N0000A7AED43BFC8C896657409A1A67C2BDFC0DEE9024E40E7EF1B2453AE420720BC6CAA9"
    "2F97CBB53725"
)
KEY24 = h("0123456789ABCDEFFEDCBA987654321089ABCDEF01234567")
B16_DES = (
    "B0096K0DN00N00008F0742A7A41720A6C2EEFAE9E61A827275CA9379AE00C2222335FFA95692BB40E2"
    "578642C3FD3BDD"
)
# Authentic blocks (MAC made with the KBAK) whose key length field is wrong: 256 bits in a
# 32-byte payload, and 100 bits (not whole bytes).
D128_BADLEN = (
    "D0112K0TD00N0000EA2E5DD5B01B697B3585A15AF1827B50FBBD42FAC18B71681BACCF2322A92FDB"
    "41A91517264C32E2E6D61F84EA16FD44"
)
D128_BITS = (
    "D0112K0TD00N00000B7E62CC6138792D80E0FEF11755E3F5B58C0B7C2E39A93ADADFA83DC9562715"
    "DBAF490BAB3A5EC567C63C5B303FC02B"
)


def refused(words, kbpk, block):
    try:
        tr31.unwrap(kbpk, block)
    except tr31.KeyBlockError as exc:
        for word in words:
            assert word in str(exc), (word, str(exc))
        assert isinstance(exc, ValueError)
    else:
        raise AssertionError("key block accepted: " + str(block[:16]))


def test_published_version_b():
    header, key = tr31.unwrap(A722_KBPK, A722)
    assert key == A722_KEY
    assert (header.version, header.length, header.usage, header.algorithm) == ("B", 80, "P0", "T")
    assert (header.mode, header.key_version, header.exportability) == ("E", "00", "E")
    assert header.count == 0 and header.blocks == ()
    assert cipher.kcv("3DES", key) == h("57C409")


def test_published_version_b_with_optional_block():
    header, key = tr31.unwrap(A732_KBPK, A732)
    assert key == A732_KEY
    assert (header.usage, header.mode, header.key_version, header.exportability) == (
        "B0",
        "X",
        "12",
        "S",
    )
    assert header.blocks == (("KS", "00604B120F9292800000"),)
    assert header.block("KS") == "00604B120F9292800000" and header.block("KP") is None
    assert cipher.kcv("3DES", key) == h("9A4212")


def test_published_version_d_aes256():
    header, key = tr31.unwrap(A74_KBPK, A74)
    assert key == A722_KEY and header.algorithm == "A" and header.version == "D"
    header, key = tr31.unwrap(ISO_KBPK, ISO)
    assert key == ISO_KEY and header.usage == "M3" and header.key_version == "16"
    header, key = tr31.unwrap(THALES_D_KBPK, THALES_D)
    assert key == THALES_D_KEY and len(key) == 32


def test_hsm_made_version_b():
    header, key = tr31.unwrap(THALES_KBPK, THALES_B)
    assert key == THALES_KEY and header.usage == "K0" and header.mode == "N"
    assert cipher.kcv("3DES", key) == h("5C9405")


def test_psec_made_blocks():
    header, key = tr31.unwrap(K128, D128_K0)
    assert key == TMK and (header.usage, header.mode) == ("K0", "D")
    header, key = tr31.unwrap(K128, D128_K0_OPT)
    assert key == TMK and header.count == 3  # the pad block counts in the header
    assert header.blocks == (("TT", "poskit test"), ("KS", "00604B120F9292800000"))
    header, key = tr31.unwrap(K256, D256_EXT)
    assert key == TMK and header.block("TT") == "x" * 300 and header.usage == "K1"
    header, key = tr31.unwrap(B24, B24_K1)
    assert key == KEY24 and header.mode == "B"
    header, key = tr31.unwrap(A722_KBPK, B16_DES)
    assert key == h("133457799BBCDFF1") and header.algorithm == "D"


def test_bytes_and_str_blocks_alike():
    assert tr31.unwrap(K128, D128_K0.encode())[1] == TMK
    assert tr31.unwrap(K128, memoryview(D128_K0.encode()))[1] == TMK


def test_key_returned_as_wipeable_bytearray():
    key = tr31.unwrap(K128, D128_K0)[1]
    assert isinstance(key, bytearray)


def test_parse_reads_header_without_a_key():
    header = tr31.parse(D128_K0_OPT)
    assert (header.version, header.length, header.usage, header.mode) == ("D", 160, "K0", "B")
    assert header.raw == D128_K0_OPT[:64].encode()


def test_versions_a_and_c_refused():
    refused(["version A key blocks are not accepted"], THALES_KBPK, THALES_A)
    refused(["version C key blocks are not accepted"], THALES_KBPK, THALES_C)
    refused(["unsupported key block version", "'1'"], K128, "1" + D128_K0[1:])
    refused(["unsupported key block version"], K128, "E" + D128_K0[1:])


def test_bad_length_field():
    refused(["bad length field"], K128, D128_K0[:1] + "01A2" + D128_K0[5:])
    refused(["bad length field", "says 104"], K128, D128_K0[:1] + "0104" + D128_K0[5:])
    refused(["bad length field"], K128, D128_K0[:1] + " 112" + D128_K0[5:])


def test_truncated():
    refused(["truncated", "length field says 112"], K128, D128_K0[:96])
    refused(["truncated"], K128, D128_K0[:10])
    # Length field made to agree with a block cut short: no room for key data and MAC.
    refused(["truncated"], K128, "D0048" + D128_K0[5:48])
    refused(["truncated"], K128, "D0016K0TD00N0100")
    refused(["too long"], K128, "D9999" + "0" * 9994)


def test_non_hex_payload():
    block = D128_K0[:40] + "G" + D128_K0[41:]
    refused(["payload is not hex"], K128, block)
    block = D128_K0[:-1] + "Z"
    refused(["payload is not hex"], K128, block)


def test_blanks_inside_the_hex_refused():
    # MicroPython's unhexlify skips whitespace between hex pairs where CPython's refuses it:
    # blanks, a tab or a line end in the key data or the MAC, the length field counting them,
    # read short, and the block then failed in the cipher (ValueError) or the CBC step
    # (IndexError) instead of being refused.
    for blanks in ("  ", "\t\t", "\r\n", " 0"):
        for at in (48, 100):
            block = D128_K0[:at] + blanks + D128_K0[at + 2 :]
            refused(["payload is not hex"], K128, block)
        block = D128_K0[:-4] + blanks + D128_K0[-2:]
        refused(["payload is not hex"], K128, block)
    block = B24_K1[:40] + "  " + B24_K1[42:]
    refused(["payload is not hex"], B24, block)


def test_mac_mismatch():
    # One character of the encrypted key, of the MAC, or of the header changed; a wrong KBPK.
    for i in (3, 20, 60, 100, 111):
        if i == 3:
            block = D128_K0[:5] + "P0" + D128_K0[7:]  # usage rewritten
        else:
            c = "0" if D128_K0[i] != "0" else "1"
            block = D128_K0[:i] + c + D128_K0[i + 1 :]
        refused(["key block MAC does not verify"], K128, block)
    refused(["key block MAC does not verify"], h("00") * 16, D128_K0)
    refused(["key block MAC does not verify"], THALES_KBPK, A722)


def test_key_length_inconsistent():
    refused(["key length inconsistent", "256 bits"], K128, D128_BADLEN)
    refused(["key length inconsistent", "100 bits"], K128, D128_BITS)


def test_kbpk_sizes():
    refused(["AES-192"], b"\x01" * 24, D128_K0)
    refused(["16- or 32-byte AES key", "got 8"], b"\x01" * 8, D128_K0)
    refused(["16- or 24-byte TDES key", "got 32"], b"\x01" * 32, A722)


def test_malformed_optional_blocks():
    refused(["bad optional block count"], K128, D128_K0[:12] + "0X" + D128_K0[14:])
    # The header says one optional block; the "block" that follows is the key data.
    refused(["truncated inside its header"], K128, D128_K0[:12] + "01" + D128_K0[14:])
    block = D128_K0_OPT[:18] + "ZZ" + D128_K0_OPT[20:]  # TT block length not hex
    refused(["not hex"], K128, block)
    block = D128_K0_OPT[:18] + "03" + D128_K0_OPT[20:]  # shorter than its own header
    refused(["shorter than its own header"], K128, block)
    block = D128_K0_OPT[:16] + "T!" + D128_K0_OPT[18:]
    refused(["not alphanumeric"], K128, block)


def test_header_not_on_block_boundary():
    # A version B header padded to 8 characters read as version D: 16 needed.
    refused(["not a multiple of 16"], K128, "D0104B0TX12S0100KS1800604B120F9292800000" + "0" * 64)
