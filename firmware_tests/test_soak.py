"""The soak's short run (firmware_tests/bench/soak.py; `make soak` is the 10,000-transaction
campaign): a few hundred mixed transactions through the engine in the ESP32's 110 KB heap,
from the ROMFS image, against the host simulator, settled three times. Every transaction is
approved, and every batch settles balanced with the host's totals equal to the terminal's."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "bench" / "soak.py"


def _soak():
    spec = importlib.util.spec_from_file_location("soak", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_short_soak_every_batch_balanced():
    soak = _soak()
    figures = soak.soak(300, 100, timeout=600)
    assert [b["batch"] for b in figures["batches"]] == [1, 2, 3]
    assert soak.problems(figures) == []
    # Each batch holds its refunds (credits) and debits: the mix is what it says.
    assert all(b["terminal"][1] > 0 and b["terminal"][3] > 0 for b in figures["batches"])
