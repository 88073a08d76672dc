"""Shared test set-up: device/ importable under CPython, hypothesis profiles."""

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
# Device modules import under CPython as on the terminal (`from app import des`), so host
# tests can check them against independent libraries.
sys.path.insert(0, str(ROOT / "device"))
# Stand-ins for MicroPython built-ins (cryptolib) so every device module imports.
sys.path.insert(1, str(ROOT / "firmware_tests" / "shims"))

# The default profile keeps `make test` short; `make test-full` runs the long campaign.
settings.register_profile("default", max_examples=1000, deadline=None)
settings.register_profile(
    "full", max_examples=20000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
