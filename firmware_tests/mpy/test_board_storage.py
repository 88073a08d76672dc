# The ESP32 board's storage on MicroPython: mount_flash() formats a blank data partition only,
# and refuses a damaged one without touching it; storage_key() makes the key once and keeps
# it in NVS. esp32.Partition, esp32.NVS and network.WLAN are stand-ins here (RAM and dicts).
# mpy-heap: 200K
# (the board module is compiled from source here; the terminal loads it frozen)
import sys
import vfs

from mptest import expect_error
from ramflash import RAMFlash

_BLOCK = 4096


class _Partition(RAMFlash):
    # esp32.Partition as Partition.find returns it: 4 KB blocks, the extended block protocol.
    TYPE_APP = 0
    TYPE_DATA = 1
    table = []

    def __init__(self, label, count=8):
        super().__init__(_BLOCK, count)
        self.label = label

    def info(self):
        return (1, 0x83, 0x210000, self.count * _BLOCK, self.label, False)

    @staticmethod
    def find(type=0, subtype=0xFF, label=None):
        return [p for p in _Partition.table if type == 1 and label in (None, p.label)]


class _NVS:
    # esp32.NVS: set_blob is kept only once committed (a reset forgets the rest); errors are
    # OSError(-code, name) as the ESP32 port raises them.
    committed = {}

    def __init__(self, namespace):
        self._namespace = namespace
        self._pending = {}

    def set_blob(self, key, value):
        self._pending[key] = bytes(value)

    def commit(self):
        for key, value in self._pending.items():
            _NVS.committed[(self._namespace, key)] = value
        self._pending = {}

    def get_blob(self, key, buffer):
        value = self._pending.get(key, _NVS.committed.get((self._namespace, key)))
        if value is None:
            raise OSError(-0x1102, "ESP_ERR_NVS_NOT_FOUND")
        if len(value) > len(buffer):
            raise OSError(-0x110C, "ESP_ERR_NVS_INVALID_LENGTH")
        buffer[: len(value)] = value
        return len(value)


class _Esp32:
    Partition = _Partition
    NVS = _NVS


class _WLAN:
    log = []

    def __init__(self, interface):
        self._active = False

    def active(self, value=None):
        if value is None:
            return self._active
        self._active = value
        _WLAN.log.append(value)
        return None


class _Network:
    STA_IF = 0
    WLAN = _WLAN


sys.modules["esp32"] = _Esp32
sys.modules["network"] = _Network

from board import esp32_ref as board  # noqa: E402  (after the stand-ins are in place)


def _terminal(*labels):
    # A terminal whose partition table has data partitions `labels`; nothing mounted.
    try:
        vfs.umount(board.MOUNT)
    except OSError:
        pass
    _Partition.table = [_Partition(label) for label in labels]
    return _Partition.table[0] if labels else None


def test_blank_partition_is_formatted_and_keeps_files_across_a_reset():
    _terminal("nvs", "poskit")
    flash = _Partition.table[1]
    board.mount_flash()
    with open(board.DATA_ROOT + "/journal1.log", "wb") as f:
        f.write(b"approved sale")
    vfs.umount(board.MOUNT)
    board.mount_flash()  # the next power-up: mounted as it is, not formatted again
    with open(board.DATA_ROOT + "/journal1.log", "rb") as f:
        assert f.read() == b"approved sale"
    assert board.data_partition() is flash
    vfs.umount(board.MOUNT)


def test_damaged_partition_is_an_error_and_left_untouched():
    flash = _terminal("poskit")
    for block in range(2):
        flash.writeblocks(block, b"\x00\x13\x37" * 100, 0)  # not LittleFS, not erased
    before = bytes(flash.data[: 2 * _BLOCK])
    exc = expect_error(board.FlashError, ["poskit", "not a LittleFS"], board.mount_flash)
    assert isinstance(exc, OSError)  # what the terminal's start-up catches
    assert bytes(flash.data[: 2 * _BLOCK]) == before  # never formatted
    expect_error(OSError, [], open, board.DATA_ROOT + "/journal1.log")


def test_one_stray_byte_in_the_second_superblock_is_not_blank():
    flash = _terminal("poskit")
    flash.writeblocks(1, b"\x00", _BLOCK - 1)
    expect_error(board.FlashError, ["not a LittleFS"], board.mount_flash)
    assert flash.data[0] == 0xFF  # block 0 still erased: nothing was formatted


def test_table_without_the_data_partition_is_an_error():
    _terminal("vfs")  # MicroPython's own table: not the terminal's
    expect_error(board.FlashError, ["no poskit data partition"], board.mount_flash)


def _fresh_nvs():
    _NVS.committed = {}
    _WLAN.log = []


def test_storage_key_is_made_once_and_kept_across_resets():
    _fresh_nvs()
    key = board.storage_key()
    assert type(key) is bytes and len(key) == 16
    assert _WLAN.log == [True, False]  # drawn with the radio on, which is off again
    assert board.storage_key() == key  # the next power-up: the same key, none made
    assert _WLAN.log == [True, False]
    assert _NVS.committed[(board.KEY_NAMESPACE, board.KEY_NAME)] == key  # committed


def test_two_terminals_get_different_storage_keys():
    _fresh_nvs()
    first = board.storage_key()
    _fresh_nvs()
    assert board.storage_key() != first


def test_storage_key_seals_and_opens_the_terminal_keys():
    from app.crypto import seal

    _fresh_nvs()
    key = board.storage_key()
    assert seal.unseal(board.storage_key(), seal.seal(key, b"terminal master key")) == (
        b"terminal master key"
    )


def test_storage_key_of_the_wrong_length_is_refused_not_replaced():
    for stored, words in ((b"short", ["5 bytes"]), (b"k" * 32, ["longer than 16"])):
        _fresh_nvs()
        _NVS.committed[(board.KEY_NAMESPACE, board.KEY_NAME)] = stored
        exc = expect_error(board.StorageKeyError, words, board.storage_key)
        assert isinstance(exc, OSError)  # the terminal starts out of service
        assert _NVS.committed[(board.KEY_NAMESPACE, board.KEY_NAME)] == stored
        assert _WLAN.log == []


def test_unreadable_nvs_is_an_error_not_a_new_key():
    _fresh_nvs()

    def broken(self, key, buffer):
        raise OSError(-0x1101, "ESP_ERR_NVS_NOT_INITIALIZED")

    original = _NVS.get_blob
    _NVS.get_blob = broken
    try:
        expect_error(OSError, ["NOT_INITIALIZED"], board.storage_key)
    finally:
        _NVS.get_blob = original
    assert _NVS.committed == {}
