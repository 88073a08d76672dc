"""PosManage's GPRS meter (device/app/ui/admin_comm.py) reads the operator with AT+COPS? the
way the modules answer it; here the real SIM800 and SIM7600 drivers on MicroPython ask the
GPRS module emulators, as on the virtual terminal."""

import pytest
from test_emulators import device

from hostlib.emulators import Sim800Emulator, Sim7600Emulator

METER = """
import json
from board.unix_sim import SocketUART
from drivers.%s import %s as Driver
from app.ui.admin_comm import operator_name
from drivers.sim800 import signal_bars
g = Driver(SocketUART("127.0.0.1", %d, timeout_ms=2000), boot_timeout_ms=3000)
g.sync()
rssi = g.signal()[0]
print(json.dumps({"operator": operator_name(g), "bars": signal_bars(rssi), "rssi": rssi,
                  "registered": g.registration()}))
"""


@pytest.mark.parametrize(
    "emulator, module, driver",
    [(Sim800Emulator, "sim800", "Sim800"), (Sim7600Emulator, "sim7600", "Sim7600")],
    ids=["sim800", "sim7600"],
)
def test_operator_signal_and_registration_as_the_meter_reads_them(emulator, module, driver):
    with emulator(csq=(25, 0), operator="CHINA UNICOM") as gprs:
        seen = device(METER % (module, driver, gprs.port))
        assert seen == {"operator": "CHINA UNICOM", "bars": 5, "rssi": 25, "registered": 1}
        gprs.creg = gprs.cgreg = 2  # searching: no operator yet
        if hasattr(gprs, "cereg"):
            gprs.cereg = 2  # the SIM7600 is registered when any of the three says so
        seen = device(METER % (module, driver, gprs.port))
        assert seen["operator"] == "-" and seen["registered"] == 2
