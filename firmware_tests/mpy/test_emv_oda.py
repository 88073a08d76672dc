# Offline data authentication on MicroPython (app.emv.oda): cards personalised by
# hostlib.card.certs (the vectors at the end of this module, made by
# firmware_tests/test_emv_oda.py) pass SDA and DDA, and each way a card can be wrong fails with
# its own reason and the TVR bits the kernel will set. Card a has remainders (92, 9F48) under a
# 1408-bit CA key, card b a 1984-bit CA key and no remainders, card c exponent 65537.
import binascii

from app.emv import oda
from app.emv.oda import DDA, SDA, OdaError

RID = b"\xa0\x00\x00\x03\x33"


def v(name):
    return binascii.unhexlify(V[name])


TODAY = b"\x26\x12\x07"  # 7 December 2026, the transaction date (9A) of every check
UN = b"\x1a\x2b\x3c\x4d"  # the unpredictable number (9F37) the DDA cards signed


def ca_keys(name="a"):
    return [
        oda.CaKey(RID, v(name + ".ca_index")[0], v(name + ".ca_modulus"), v(name + ".ca_exponent"))
    ]


def card(name="a"):
    """The card's data as the kernel holds it after reading the records: {tag: bytes}."""
    out = {0x5A: v("pan"), 0x8F: v(name + ".ca_index")}
    for key in V:
        prefix, _, tag = key.partition(".")
        if prefix == name and not tag.startswith("ca_") and "_" not in tag:
            out[int(tag, 16)] = v(key)
    return out


def static(record_1=None, aip=None, tag_list=b"\x82"):
    records = [(1, record_1 or v("record_1")), (11, v("record_11"))]
    return oda.static_data(records, aip or v("aip"), tag_list)


def refused(reason, tvr, fn, *args):
    try:
        fn(*args)
    except OdaError as exc:
        assert exc.reason == reason, (exc.reason, reason)
        assert exc.tvr == tvr, (hex(exc.tvr), hex(tvr))
        return
    raise AssertionError("accepted; expected " + reason)


def issuer_of(name="a", data=None):
    return oda.issuer_key(data or card(name), ca_keys(name), RID, TODAY, SDA)


def test_the_ca_key_check_value_of_the_download():
    key = ca_keys()[0]
    assert key.computed_check_value() == v("a.ca_check")
    assert not key.valid()  # no check value: not a key to keep
    kept = oda.CaKey(RID, key.index, key.modulus, key.exponent, v("a.ca_check"))
    assert kept.valid()
    wrong = bytearray(v("a.ca_check"))
    wrong[0] ^= 1
    assert not oda.CaKey(RID, key.index, key.modulus, key.exponent, wrong).valid()


def test_sda_passes_on_every_card():
    for name in ("a", "b", "c"):
        data = card(name)
        issuer = issuer_of(name, data)
        assert oda.verify_sda(data, issuer, static()) == b"\xda\xc1"


def test_sda_fails_when_one_byte_of_a_signed_record_changed():
    record = bytearray(v("record_1"))
    record[10] ^= 0x01  # a byte of the application expiry date 5F24
    issuer = issuer_of()
    refused(OdaError.SSAD_HASH, 0x40, oda.verify_sda, card(), issuer, static(record))
    # The AIP is signed too when the tag list says 82.
    refused(OdaError.SSAD_HASH, 0x40, oda.verify_sda, card(), issuer, static(aip=b"\x3c\x00"))


def test_sda_fails_on_a_changed_signature_or_a_missing_one():
    data = card()
    signed = bytearray(data[0x93])
    signed[5] ^= 0x80
    data[0x93] = bytes(signed)
    refused(OdaError.SSAD, 0x40, oda.verify_sda, data, issuer_of(), static())
    del data[0x93]
    refused(OdaError.DATA_MISSING, 0x60, oda.verify_sda, data, issuer_of(), static())


def test_static_data_that_cannot_be_authenticated():
    refused(OdaError.STATIC_DATA, 0x40, oda.static_data, [(1, b"\x77\x02\x5a\x00")], None, None)
    refused(OdaError.STATIC_DATA, 0x40, oda.static_data, [(2, b"\x70\x05\x5a\x00")], None, None)
    refused(OdaError.TAG_LIST, 0x40, static, None, None, b"\x9f\x37")
    # SFI 11-30: the whole record, template and all; SFI 1-10: its value.
    parts = static()
    assert bytes(parts[0]) == v("record_1")[2:] and bytes(parts[1]) == v("record_11")
    assert bytes(parts[2]) == v("aip")


def test_issuer_certificate_with_a_wrong_hash():
    data = card()
    data[0x90] = v("a.90_hash")
    refused(OdaError.ISSUER_HASH, 0x40, issuer_of, "a", data)
    # The remainder and the exponent are in the hash.
    data = card()
    data[0x92] = b"\x00" + data[0x92][1:]
    refused(OdaError.ISSUER_HASH, 0x40, issuer_of, "a", data)


def test_issuer_certificate_of_another_format_or_broken():
    data = card()
    data[0x90] = v("a.90_format")
    refused(OdaError.ISSUER_CERTIFICATE, 0x40, issuer_of, "a", data)
    data[0x90] = card()[0x90][:-1]  # one byte short of the CA key's length
    refused(OdaError.ISSUER_CERTIFICATE, 0x40, issuer_of, "a", data)
    data = card()
    data[0x9F32] = b"\x01\x00\x01"  # another exponent length than the certificate says
    refused(OdaError.ISSUER_CERTIFICATE, 0x40, issuer_of, "a", data)


def test_issuer_certificate_expiry_is_the_end_of_its_month():
    data = card()
    # Expires 12/26: good through 31 December 2026, expired on 1 January 2027.
    oda.issuer_key(data, ca_keys(), RID, b"\x26\x12\x31", SDA)
    refused(
        OdaError.ISSUER_EXPIRED, 0x40, oda.issuer_key, data, ca_keys(), RID, b"\x27\x01\x01", SDA
    )
    data[0x90] = v("a.90_expired")  # 11/26, today 7 December 2026
    refused(OdaError.ISSUER_EXPIRED, 0x40, issuer_of, "a", data)


def test_issuer_identifier_must_lead_the_pan():
    data = card()
    data[0x90] = v("a.90_other_issuer")  # 622 against PAN 6212...
    refused(OdaError.ISSUER_ID, 0x40, issuer_of, "a", data)
    data[0x90] = v("a.90_eight_digits")  # 62123456: good
    assert issuer_of("a", data).size == 176


def test_a_revoked_issuer_certificate():
    serial = RID + b"\x82\x00\x00\x01"
    refused(
        OdaError.ISSUER_REVOKED, 0x40, oda.issuer_key, card(), ca_keys(), RID, TODAY, SDA, [serial]
    )
    other = RID + b"\x82\x00\x00\x02"
    assert oda.issuer_key(card(), ca_keys(), RID, TODAY, SDA, [other]).size == 176


def test_ca_key_index_not_found():
    data = card()
    data[0x8F] = b"\x99"
    refused(OdaError.CA_KEY_NOT_FOUND, 0x40, issuer_of, "a", data)
    # The index of another RID's key is not this card's.
    other_rid = b"\xa0\x00\x00\x00\x03"
    refused(
        OdaError.CA_KEY_NOT_FOUND, 0x08, oda.issuer_key, card(), ca_keys(), other_rid, TODAY, DDA
    )


def test_icc_data_missing_sets_its_bit_beside_the_methods():
    for tag in (0x8F, 0x90, 0x9F32, 0x5A, 0x92):  # 92: card a's issuer key needs its remainder
        data = card()
        del data[tag]
        refused(OdaError.DATA_MISSING, 0x60, issuer_of, "a", data)
    for tag in (0x9F46, 0x9F47, 0x9F48):
        data = card()
        del data[tag]
        refused(OdaError.DATA_MISSING, 0x28, oda.icc_key, data, issuer_of(), static(), TODAY)


def test_dda_passes_on_every_card():
    for name in ("a", "b", "c"):
        data = card(name)
        icc = oda.icc_key(data, issuer_of(name, data), static(), TODAY)
        assert oda.verify_dda(icc, data[0x9F4B], UN) == v("idn")


def test_icc_certificate_for_another_pan():
    data = card()
    data[0x9F46] = v("a.9F46_other_pan")
    refused(OdaError.ICC_PAN, 0x08, oda.icc_key, data, issuer_of(), static(), TODAY)


def test_icc_certificate_expired_or_over_other_static_data():
    data = card()
    data[0x9F46] = v("a.9F46_expired")  # 10/26
    refused(OdaError.ICC_EXPIRED, 0x08, oda.icc_key, data, issuer_of(), static(), TODAY)
    # DDA authenticates the records through the ICC certificate's hash.
    record = bytearray(v("record_1"))
    record[-1] ^= 0x04
    refused(OdaError.ICC_HASH, 0x08, oda.icc_key, card(), issuer_of(), static(record), TODAY)


def test_dda_fails_on_other_terminal_data_or_a_changed_signature():
    data = card()
    icc = oda.icc_key(data, issuer_of(), static(), TODAY)
    refused(OdaError.SDAD_HASH, 0x08, oda.verify_dda, icc, data[0x9F4B], b"\x1a\x2b\x3c\x4e")
    signed = bytearray(data[0x9F4B])
    signed[0] ^= 0x01
    refused(OdaError.SDAD, 0x08, oda.verify_dda, icc, bytes(signed), UN)
    refused(OdaError.SDAD, 0x08, oda.verify_dda, icc, data[0x9F4B][1:], UN)
    refused(OdaError.DATA_MISSING, 0x28, oda.verify_dda, icc, None, UN)
    # CDA names its own bit.
    refused(OdaError.SDAD_HASH, 0x04, oda.verify_dda, icc, data[0x9F4B], b"", oda.CDA)


def test_a_key_too_short_for_the_format_is_refused_not_crashed():
    # Exponent 1: the "recovered" block is the certificate itself, framed as the format asks,
    # under a 16-byte key, shorter than an ICC certificate's fixed fields.
    key = oda.PublicKey(b"\xff" * 16, b"\x01")
    framed = b"\x6a\x04" + bytes(13) + b"\xbc"
    data = card()
    data[0x9F46] = framed
    refused(OdaError.ICC_CERTIFICATE, 0x08, oda.icc_key, data, key, static(), TODAY)
    data[0x93] = b"\x6a\x03" + bytes(13) + b"\xbc"
    refused(OdaError.SSAD, 0x40, oda.verify_sda, data, key, static())
    refused(OdaError.SDAD, 0x08, oda.verify_dda, key, b"\x6a\x05" + bytes(13) + b"\xbc", UN)


# fmt: off
# --- vectors made by hostlib.card.certs: firmware_tests/test_emv_oda.py --write ---
V = {
    "pan": "6212345678901234",
    "aip": "7C00",
    "idn": "0102030405060708",
    "record_1": (
        "70505A0862123456789012345F24033012315F25032001015F3401018C159F02069F03069F1A0295055F2A02"
        "9A039C019F37048D178A029F02069F03069F1A0295055F2A029A039C019F37049F49039F3704"
    ),
    "record_11": "700A5F280201569F0702FF00",
    "a.ca_modulus": (
        "C10294B96936556E1462CCACAF514CAE0250283B9DD166BE8C96D8E30A8EDCBFE80862AAC3828CDE11CB3D40"
        "0B97E11E2225EF88EE1B5A846B40FB8B858B8A64AB1D4171478E444A87439556C44BCC8975C48821F2DE9FCD"
        "3FB966C78A1A6E98C858148523C81EF372EE95458E39BB953F8F6062EA0F01CA63D3DE9DEE410CC4005D7F20"
        "D9CBB966B9C0354E8D04601BB014B07A96C630CE0E6477EFE7307ECD7E2A5EEB52ADBC13DFA1CD6C15625081"
    ),
    "a.ca_exponent": "03",
    "a.ca_index": "82",
    "a.ca_check": "1F19CC82E0691CE6C947D860A081CABB63BD5733",
    "a.90": (
        "66259142FBE215FF6BE019DB7EACEA3DEC4064709192765E1D68762DC5084CEA3DA6799B6E88706B80B5DF70"
        "A16990ECD47E487D2ADD0513A2C2F682DFFAEA8FE1E76EFF6FD62D2DE351C93E3A282B2408EEEABBC41421DE"
        "2C8F45C20BB8F6DD8DF3F2E9BD7044FE1690AED5A8A6364426E3E0F312A0B02BD3B8E695E4947BF0DD96F1EB"
        "7761F9A07B822C03F790B5D7D1DBEF932B5DE86B711F4B4A701AA1B97A6F898A07F7D93FD43A71DABECC78CC"
    ),
    "a.9F32": "03",
    "a.92": "B5068BF50C7C2F2E50AB1863070C8B1C294C869C9CDB3D1A7F72756C4CAB37EC7A630D75",
    "a.9F46": (
        "383879D79E964A9B9C9AAA1A90C9CB45F587E02D21134D875C02C656F06832688FBB501DC3B2C94357290EA3"
        "D4803E9FD55E689BEF0AE692475DE7A9F69F1C64309BCE8FA0420D28AC45DD16DC668EF320B7FA0CF6BDAF59"
        "2517248F9ACA9A6D2493108DDB08430177A2D20BFF8E8F969BA101FEAA847C93AAF0E07E9C52972FD59E5E27"
        "3DAA2E556DB011FFF0005BC505DE26995FB087B44841C46614320988843C267202E90D503AA8F6FC2FAE2C2A"
    ),
    "a.9F47": "03",
    "a.9F48": "B024FD233BBCF0C8285B",
    "a.93": (
        "14AA59D71CD92529606D7A8D15F07E7F86AE3867BDA966D7F457B4F64B60C91ED7696F3384DE05EE2B32F961"
        "0547912F561994497D4CA1A9DFBF0D918D63A3B9EB84EE888900B2E7BA9023AA57C594683DA07C189656AA1E"
        "F7CE4C4B206916549A96D727965C5F8D99A1C12CBAA686814852D9F0E7E06F7C9D251445130789384B204CEB"
        "2EC1B93F9186FAF52F79ACB6B5375077C2A5606930187633795D8FD3F123FB769CA83A59B913D32F5AAF5C3E"
    ),
    "a.9F4B": (
        "79F3C5D953FD8F2C0060D90DB200D8CE5A0245BC3297A7678A33422444C8917BD193B86765969737D17C50ED"
        "0CA718F26B6C465F79941B1F75D504C7579CEAEA80B14D42A692301A6CE28A0DA181D8C2E2484126D037B999"
        "66678BB97BC9050DFA44CACCDF54942C28B04764D194314B027E6688BC5C288549F3B165876201493425638B"
        "6247E645884AB286EC1AF71E"
    ),
    "a.90_hash": (
        "A203FABB5D28196B27A3A7F5B668ACFB9F174FF9C009FDE6DE804E962FCEA9A533897EA65FC80B7CF0845299"
        "E6218DC226EB90DFC38CEB156D090A5799AFA5C993623F177C402C10C797812C08DB7DF2C45AD1596C6CB5F6"
        "FC5D2088B8DF7C086860C2672BA4D84A666D5AAA497F6CD1151838C4177D05CBF7EAF2B023EF972B848F2043"
        "00D1CEE4C9AB46AE44D0F9C66CD1B00AA1FFF631A004CD12B4DECCB8295A97E7CD381947E276FD1850E2B9DF"
    ),
    "a.90_format": (
        "AAA6F8E363AEE57205E176A0A6C0B8E9601A1F93628DAE81FF5FEC16DC27CD1044880FF08969CED922770ADF"
        "8A91590036FC41F94FE4991133392E9954D44CDE85EF67245F18E6940B44E0576863D2D91FD86328BE933267"
        "C8A60CD1EB1445D4D00F54BECB47F5F884FAEF7AD30FD6069F75FD0663CDB99F2A804904699888F293DE5605"
        "DF2FFD65BA6DDD7B3E62A8B75F767282F750ECFF33E523D0FC69187AC1248450B3F745CBF3B64C5000873CA1"
    ),
    "a.90_expired": (
        "54373EE032FEDB8141487654F33EB03075E690483736A8D56862AC575DCC5FBD4627AC4620FF634EF89C5593"
        "0787222DFE351B50F8CF0B01D0501F2B3F1CFDECF16F73D6B44D9314589340F4B122C6155E972D64A146BEB6"
        "64CA37C3DB1BC0855545D4A02D573B36B69B6ADFD195353CA13FD3D9E47D36030DB187A5E09AC92BD43FB569"
        "C9F50C04ADF20535CF6967AD283D82A3F3AF9CCE2DF7752F16E5EBFD180FB31817540BAC7015CD20AF3846B0"
    ),
    "a.90_other_issuer": (
        "008C470EDC3891DDC211E92ED5B5A4AC36A399C5CBD6B4903EB45329FBD984588525CCC597057EBA87D9D3B9"
        "2F6E16F0CF7DB36C917E856335B8DE98CFFCE46579513EDC9FBF87AD3ABCD1DECE7DF679BB41302C0A652CFF"
        "DDD1934AC1A245082FF77C0872DB9FBFEE24DD11B4B496C2FFCE22AB09FBD5737F05FD710090C93F60595C11"
        "589CD749D02D28ACAB43A0598B3B383DB4D6AE2D5DFA06B2E288869AFD04DAE287749966AB7B986F36BEE1F1"
    ),
    "a.90_eight_digits": (
        "83999241AF9B0CB12622B02786DB6B3878BB4460BDCEFD867C56D995FDB53AD690FE666E95F42277B9611E25"
        "32C152520929AFFE82F87A43177704D33CAE3E327ABB9FEF8B12DF20A4C625DAA298BD7C8E65D1E7F4310F53"
        "AAF8DB7AA6430A5AE7D290BAA57D635F571D603C5BF2AD9064723A368806E1CD163D980FED40DA0A382709A3"
        "D6B862A8782A332BFDE82E2F6CA3F6CEF2D13C8A374ADCE73355AA8544B21FAE6D8B182E5E3A830E46AF5665"
    ),
    "a.9F46_other_pan": (
        "B55FFE747071DC51559DFFC5AFE5853B64CAB8836CDF9A37A43AA47FA29DC17D8EAFEFF5049BD96476B5EC4C"
        "841BEF37DA29B42FFD00FC5F4B0900ED60782F30BA90D64108D298B645CEDD12206252A4EC46FBDB5B7C5785"
        "F17702F411EE049C252F29BA4FBD463394BA826BA8849E4FDC21F22C8408B381C2CF066E3984AC645614B50A"
        "76B0DE37078F808B4E8744AFC6F96AE8E76511A201CBF2DE0E187584A00E11A353D6CF52BF5B828C199F849B"
    ),
    "a.9F46_expired": (
        "9683446281EE9ACA69D96F1E9960D70CDB66FEA1A259E31EA4FD4DAB51926B97A6500970B40B301D85A9701D"
        "78EB0A5639F00C0CFE3BD053B39355CD4F3B5E6798DC2F196CE90F9AFFFC88672A47FB8AC05DE0C48BCE0877"
        "0A04DCA5184EB4854ED632AD98E649A021821AD4EBBF9CA32D4D29D30B5D7B628232307433820E6F8C4B667E"
        "08209785ED0002AFEDD2875D3AEE0C88552A791F220555E3205ECA1E4C8C521A6E307CF3D1FB0F3346310119"
    ),
    "b.ca_modulus": (
        "BD7CF773A57F5DC0626DE0F413925ECACCAA9E9C8429084E7BA6F62D3BBBBC23D63A3B0F8EF91943E04DD035"
        "4EC6E5039D966731F73249435F9302C2EE4389F2677C1E50F024AC91A4E3367535BB21EAFAE0FB1565C3833F"
        "1F52D0DD4FA9D2F7702B11BC9FE311A14978C3622482DB3E8DAAD42025E80376BE10A072EA031C5ABF6C43AE"
        "B38B300CDEC9617DC69E5AE65FF5AE5A5A07D367C8BC8D17211999BBFF48F08C277DC1C0E237B54CCBE6E4D5"
        "67ED623A6357ED00CA288D78DC4E72D78E255C4F3BEB53BDC33C584B202E3766ADF9EDB0E8D68B786D11E2AB"
        "46DC2DD1B1477613A78754353FFE6B7DC760FA85028EB861D35BD819"
    ),
    "b.ca_exponent": "03",
    "b.ca_index": "83",
    "b.ca_check": "3143B5E14E28D26978F760EB458A6DF6469D0B95",
    "b.90": (
        "98FA2166DB16949888BCB5B7758D49CA337F324613C8C831A3A87DCABF703EE89A51C2783C0835E808A0ACAD"
        "D61B2B4FDA6182A3E00F4B900A6D2E3091461905CF949C29336B2BF9DA0B71CF3F05C884BAE2C4FD4436CAB0"
        "F8BE8E24653E2B4CAF29D879304A2244A754D3AA5577A6340F10CBC39C0DC17A5B93D02F93CD2CD5B8444DE5"
        "55C45CCC769036CC4B967C882B86FA080B33344EDF1F3673B61A3835C769F6FDDCDB4443D22CF2C3E73EC376"
        "26621D5463CF47FB64DF024D78F32DD202C57FDA9A4CCCE7C96BFB137D402F8AAB15F3A6B81EEB5DBDB99C8F"
        "EED1C408A9855894FFF1C0902C3785B4DFBB95C3B4885FAEDFDD50B0"
    ),
    "b.9F32": "03",
    "b.9F46": (
        "7BBE1FC4CE88C624F104306905554B99AEB31EF1B1E82E60EC0EF6F9D3B8E3C494B99140F2CD5B80D11C0F3D"
        "5FF62054CF39B07E5A2B1F719C1E218C42F35A5E713D4353947F3F3C73755404B27986BC6938191892F258EF"
        "EA3E61A0BF6621B172DEE139D5DFD080B901862F8F7DF65D8396DFDE6FAEEF82FAED2809B335C2E8542259AD"
        "CCD3665157E6D543627F6993"
    ),
    "b.9F47": "03",
    "b.93": (
        "2EF8AD14590CDA7D00ADF9B3B47BFFA23D326E747DBDD19CFE6706669ED95934EB915538795A1212BBBD7F5D"
        "4370C840A3B42E8FE2179D8B37F294EC0BD89F009082D834765C629DDA70927BF6702E6D7BE22E08705F91A6"
        "D54C28807AE3F61EBC1355040A76FC4B9B0E15FCBAAC2DF3C2421A8B6A56E81D33C1F8C77CC5F65E22C2D931"
        "35DFB27077CFCD791893CE9D"
    ),
    "b.9F4B": (
        "1E9B013A48064B4A713BFB1DF7F10B536A6FBFBCA693578DB6A4B8602F8FE477B1F76F84D5317AF7AD2191EF"
        "C6277E07F0C8223AC6136879E86035C54A5ABD757963211AD7CC71B1A7832C7BB3BBD0B275E6CBFE0910B884"
        "77CFF2B8DE58AAD3"
    ),
    "c.ca_modulus": (
        "C6B94D2DB6B69DAD4D348C6A669333CC8FF2964ED82BA6D3383F2FC8127956CC4F4CCB34FE8CDD07D6E7B632"
        "7B8543BBBC90ABC7D8D3D8E85491EBB033E1D9C60C933C43792641CD699D9EC6BEB28513A09C25653D62C13C"
        "35FEA42DF92914D55CBCEA5FE78F42F28B87A2A848C93A98093154011F7DAB67E7F0D5D9C2093324F8247A12"
        "2ABAC9EB1504B84BFBA85C196922B70B443EBCF33126115BBEB79A885121AA63B2B561D1189EEE1182949E77"
    ),
    "c.ca_exponent": "010001",
    "c.ca_index": "84",
    "c.ca_check": "6AF9CE3EF235E956FFA028AC39DC18381D30F33E",
    "c.90": (
        "9F9794D29DE048CFDB53E4DE339F053554FF6D9556C6591D5ECCE1B12C53AF6DBFD2CA234CEE3F0EFA65E80B"
        "A464E3ECC7D9E549F340F0D7FF38D53D593F8CD6761B5A61AE0E38E50DF86E35102402BD84B431A7CD910A75"
        "BA9E0F20F2E0A1D2E66D5B24968F32E0D059F85EBD3EAEF17D030D2EF9EFB1337C69F787671848DD114F8462"
        "19226E7A64131431479719CFB8B123FA800C77D567E7A60F487851BFD34DA35C61B476B4007E8A2CBA496481"
    ),
    "c.9F32": "010001",
    "c.9F46": (
        "AD39D71E572F021DFE2E8506797D7F9DE643EBAE84DF428DC1B3BAB0640694BA4061AB14712219D60D5C3AC2"
        "822A906F10CF7C921FF4AD8F95C36FEBF596733D1DBC912FC5FB5AF953B7F7C0A14AE73E5E097F11D91EC8FC"
        "73EDB0D096D87E162AE5AF00A5BB74D942250426D0FFAD961A84E285579D30CFB710DAC55E47E1AC"
    ),
    "c.9F47": "010001",
    "c.9F48": (
        "FB20D1AB1058A3D8C6CC1CD9866A742B6F53D636A9DE809A862F718E912B2EA36597BEC2D72644DE6761"
    ),
    "c.93": (
        "79BB55E93B9B6EF764322D1065D324560AE4C5B31D9ECD9E6984CAE64282B7C5E033BDBF298A779461E71CA7"
        "692C39D68FCC820DA5071AC50251803919604CA8DFDA1482520B50C384A22DDD1D76AA581C57D9E4593DC30C"
        "76E74193D7BDFE2B8BA35130A3891F84A858AB4C4D5B8FE749DD8584DC32C22907D480BB45FC7586"
    ),
    "c.9F4B": (
        "0B1CA8D51BF7C1B176DED0CA19A0B641C90B05EAF1225027A8C89FF5E47DE6876D8C0E2AFCB404C59AF41F44"
        "4067D11B61E03B67C810C5A621F2EDB0FC03577D651E1DECEC315B8981D390AF42166DCDD7F8937998478D1A"
        "B908B31F074704CF216F509778E55568069B8FABC43DD25FF5E355207C57EC00CAEEE463F7E3B242"
    ),
}
# --- end of vectors ---
# fmt: on
