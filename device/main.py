# Start-up: the power-up self-test guards every transaction; the application grows here.
from app import selftest

_failed = selftest.run()
if _failed:
    print("SELF-TEST FAILED:", ", ".join(_failed), "- terminal out of service")
else:
    print("self-test passed")
