# The terminal identity on a RAM flash: provisioned once, secrets sealed, wipe authenticated.
# mpy-heap: 200K
# (the RAM flash itself takes 32 KB of the heap; the terminal's flash is not in its heap)
import os
import vfs

from blockdev import RAMBlockDevice

from app.keys.identity import Identity, IdentityError, wipe_token
from app.store.records import Journal, RecordStore

STORAGE_KEY = bytes(range(16))
KBPK = bytes(range(0x40, 0x50))
LINK = bytes(range(0x80, 0xA0))


DEVICE = RAMBlockDevice(512, 64)


def fresh():
    device = DEVICE
    vfs.VfsLfs2.mkfs(device)
    try:
        vfs.umount("/t")
    except OSError:
        pass
    vfs.mount(vfs.VfsLfs2(device), "/t")
    os.mkdir("/t/data")
    return device, RecordStore("/t/data")


def expect(words, fn, *args):
    try:
        fn(*args)
    except IdentityError as exc:
        for word in words:
            assert word in str(exc), (word, str(exc))
    else:
        raise AssertionError("not refused")


def test_provision_once():
    _, store = fresh()
    ident = Identity(store, STORAGE_KEY)
    assert ident.serial() is None
    ident.provision("PK-000123", KBPK, LINK)
    again = Identity(store, STORAGE_KEY)
    assert again.serial() == "PK-000123"
    assert again.kbpk() == KBPK and again.link_key() == LINK
    expect(["already provisioned as PK-000123"], again.provision, "PK-000999", KBPK, LINK)
    assert again.serial() == "PK-000123"


def test_secrets_are_not_on_the_flash():
    device, store = fresh()
    Identity(store, STORAGE_KEY).provision("PK-000123", KBPK, LINK)
    vfs.umount("/t")
    flash = device.image
    assert KBPK[:8] not in flash and LINK[:8] not in flash and LINK[16:24] not in flash
    assert b"PK-000123" in flash


def test_refusals():
    _, store = fresh()
    ident = Identity(store, STORAGE_KEY)
    expect(["serial", "4 to 16"], ident.provision, "PK1", KBPK, LINK)
    expect(["A-Z, 0-9"], ident.provision, "pk-000123", KBPK, LINK)
    expect(["KBPK", "got 8"], ident.provision, "PK-000123", KBPK[:8], LINK)
    expect(["link key", "got 16"], ident.provision, "PK-000123", KBPK, LINK[:16])
    assert ident.serial() is None
    expect(["not provisioned"], ident.kbpk)


def test_another_storage_key_cannot_open_the_identity():
    _, store = fresh()
    Identity(store, STORAGE_KEY).provision("PK-000123", KBPK, LINK)
    other = Identity(store, bytes(16))
    try:
        other.kbpk()
    except ValueError as exc:
        assert "does not verify" in str(exc)
    else:
        raise AssertionError("opened with another storage key")


def test_wipe_needs_a_fresh_challenge_and_the_link_key():
    _, store = fresh()
    ident = Identity(store, STORAGE_KEY)
    ident.provision("PK-000123", KBPK, LINK)
    expect(["challenge first"], ident.wipe, bytes(16))
    challenge = ident.wipe_challenge()
    expect(["does not verify"], ident.wipe, wipe_token(bytes(32), "PK-000123", challenge))
    # the challenge was used up by the failed attempt
    expect(["challenge first"], ident.wipe, wipe_token(LINK, "PK-000123", challenge))
    assert ident.serial() == "PK-000123"
    challenge = ident.wipe_challenge()
    message = ident.wipe(wipe_token(LINK, "PK-000123", challenge))
    assert "wiped" in message
    assert ident.serial() is None


def test_wipe_refused_with_unsettled_transactions():
    _, store = fresh()
    ident = Identity(store, STORAGE_KEY)
    ident.provision("PK-000123", KBPK, LINK)
    journal = Journal("/t/data/journal1.log")
    journal.append(b"approved sale 0.01")
    challenge = ident.wipe_challenge()
    expect(["unsettled"], ident.wipe, wipe_token(LINK, "PK-000123", challenge), [journal])
    assert ident.serial() == "PK-000123"
    assert len(list(journal.records())) == 1
    journal.clear()
    challenge = ident.wipe_challenge()
    assert "1 journal" in ident.wipe(wipe_token(LINK, "PK-000123", challenge), [journal])
