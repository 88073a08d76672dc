"""The reference terminal's partition table (docs/partitions-poskit.csv): what ESP-IDF's
partition tool and bootloader demand of it, and what the terminal needs from it."""

import re
from pathlib import Path

from hostlib import build

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs" / "partitions-poskit.csv"
FLASH_SIZE = 4 * 1024 * 1024
# MicroPython 1.29's ESP32_GENERIC firmware before anything is frozen into it, rounded up.
FIRMWARE = 1_600 * 1024
# Frozen into the firmware, the application took 272 KB of the 32-bit unix port's image
# (text + data) for 234 KB of .mpy files: 1.16 times its .mpy size.
FROZEN_PER_MPY = 1.16


def partitions():
    """[(name, type, subtype, offset, size, flags)] of the CSV, numbers as ints."""
    rows = []
    for line in CSV.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        name, kind, subtype, offset, size = fields[:5]
        rows.append((name, kind, subtype, int(offset, 0), int(size, 0), fields[5:]))
    return rows


def table_offset():
    found = re.search(r"CONFIG_PARTITION_TABLE_OFFSET=(0x[0-9A-Fa-f]+)", CSV.read_text())
    assert found, "the CSV names the partition table's offset"
    return int(found.group(1), 16)


def test_partitions_are_aligned_apart_and_fit_4_mb():
    end_of_table = table_offset() + 0x1000
    previous_end = end_of_table
    for name, kind, _, offset, size, _ in sorted(partitions(), key=lambda row: row[3]):
        alignment = 0x10000 if kind == "app" else 0x1000
        assert offset % alignment == 0, (name, hex(offset))
        assert size % 0x1000 == 0, (name, hex(size))
        assert offset >= previous_end, "%s overlaps what is before it" % name
        previous_end = offset + size
    assert previous_end <= FLASH_SIZE


def test_the_table_has_what_the_firmware_and_lockdown_need():
    rows = {row[0]: row for row in partitions()}
    assert rows["nvs"][1:3] == ("data", "nvs")
    assert rows["nvs"][4] >= 0x3000  # ESP-IDF's minimum: three pages
    assert rows["phy_init"][1:3] == ("data", "phy")
    # Encrypted NVS keeps its keys in an nvs_keys partition, itself flash-encrypted.
    assert rows["nvs_keys"][1:3] == ("data", "nvs_keys") and "encrypted" in rows["nvs_keys"][5]
    assert [row[0] for row in partitions() if row[1] == "app"] == ["factory"]
    # The journal and the sealed keys are encrypted at rest too.
    board = (ROOT / "device" / "board" / "esp32_ref.py").read_text()
    label = re.search(r'^DATA_PARTITION = "(\w+)"', board, re.M).group(1)
    assert rows[label][1:3] == ("data", "littlefs") and "encrypted" in rows[label][5]
    assert rows[label][4] >= 1024 * 1024


def test_factory_partition_holds_the_firmware_with_the_application_frozen():
    # The .mpy files the ESP32 build freezes (mpy-cross -march=xtensawin), as it grows.
    mpy = sum(p.stat().st_size for p in build.compiled_device(build.ESP32_ARCH).rglob("*.mpy"))
    needed = FIRMWARE + FROZEN_PER_MPY * mpy + 4096  # + the secure boot signature block
    factory = {row[0]: row for row in partitions()}["factory"][4]
    assert needed <= factory, "firmware about %d bytes, factory partition %d" % (needed, factory)


def test_the_journal_region_has_a_partition_of_its_own_sized_for_the_batch():
    # app.store.logregion on esp32.Partition: found by the board's label, not flash-encrypted
    # (erased flash must read 0xFF through it), and big enough for the default batch capacity
    # (2,000 records of up to 176 bytes, 16-byte block headers) plus the block kept for the
    # clear at settlement and a training journal's.
    rows = {row[0]: row for row in partitions()}
    board = (ROOT / "device" / "board" / "esp32_ref.py").read_text()
    label = re.search(r'^JOURNAL_PARTITION = "(\w+)"', board, re.M).group(1)
    assert rows[label][1] == "data" and "encrypted" not in rows[label][5]
    per_block = (4096 - 16) // 176
    assert rows[label][4] // 4096 >= -(-2000 // per_block) + 2
