"""`poskit wipe`: see tools/provision.py (the two share the identity protocol)."""

from tools.provision import WIPE_HELP as HELP
from tools.provision import add_wipe_arguments as add_arguments
from tools.provision import run_wipe as run

__all__ = ["HELP", "add_arguments", "run"]
