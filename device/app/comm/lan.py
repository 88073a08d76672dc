"""The Ethernet bearer: app.comm.frames.TcpBearer behind a link check (drivers/ethernet.py),
so that a pulled cable or a missing DHCP answer is named as such, with a backup host.

    bearer = EthernetBearer(board.lan(), (("10.1.1.5", 5000), ("10.1.1.6", 5000)))
    bearer.connect()      # link up (DHCP, or `config`) and an address, then a host that accepts

Imported only when the terminal's bearer is Ethernet.
"""

from app.comm.frames import ConnectFailed, TcpBearer


class EthernetBearer(TcpBearer):
    """TcpBearer over the Ethernet interface `link` (drivers.ethernet.EthernetLink): before
    connecting, the link is checked, and brought up (with the static `config` (ip, mask,
    gateway, dns), or DHCP when None) unless it is; then `hosts` ((host, port) pairs) are
    tried in order."""

    def __init__(self, link, hosts, *, config=None, connect_ms=30000, io_ms=30000):
        super().__init__(hosts[0][0], hosts[0][1], connect_ms=connect_ms, io_ms=io_ms)
        self._link = link
        self.hosts = hosts
        self._config = config

    @property
    def link(self):
        """The Ethernet interface (the power-up checks and the idle screen read its status)."""
        return self._link

    @property
    def config(self):
        """The static (ip, mask, gateway, dns), or None for DHCP."""
        return self._config

    def connect(self):
        """Check the link, then connect to the first host that accepts. ConnectFailed."""
        if self.connected:
            return
        link = self._link
        try:
            try:
                link.check()
            except OSError:
                link.up(self._config)  # down, or never brought up: waits for link and address
        except OSError as exc:
            raise ConnectFailed("Ethernet: %s" % exc)
        failures = []
        for host, port in self.hosts:
            self.cancelled(False)
            self.host, self.port = host, port
            try:
                super().connect()
                return
            except ConnectFailed as exc:
                failures.append(str(exc))
        raise ConnectFailed("; ".join(failures))
