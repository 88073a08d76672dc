"""Host-link mode from PosManage (主机连接): the installer's tools take the terminal over its
console (app.hostlink; docs/link.md), on a terminal whose REPL is locked down as well as on
one whose is not.

    admin_hostlink.run(term)

The screen says 主机连接 / Host link until the host leaves, falls silent for two minutes, or
CANCEL is pressed; then PosManage again (the terminal restarts if the host asked for it).
"""

from app.ui import idle


def run(term):
    # The idle screen's own entry (loaded: PosManage is reached from it), waiting for a host.
    idle.host_link(term)
