"""The bearer the terminal's parameters select, built on the board's devices, and the Ethernet
bearer.

    bearer = configured(ParamStore(store).load(0), board)
    engine = Engine(1, store, storage_key, bearer)

`bearer` = dialup: app.comm_dial.DialBearer over board.modem(), dialling dialup.phone1 then
dialup.phone2, with dialup.prefix on an extension line (dialup.line = extension).
`bearer` = gprs: app.comm_gprs.GprsBearer over board.gprs(), APN gprs.apn (user, password),
gprs.host:port then the backup. `bearer` = ethernet: EthernetBearer over board.lan(), DHCP or
the static ethernet.ip/mask/gateway/dns, ethernet.host:port then the backup.
host_select = backup tries the backup number or host first. connect_timeout bounds each
connection attempt, send_timeout each send. Each bearer's module and driver are imported only
when it is the one configured.

dialup.lri (the 33-byte LRI header) is not applied: the engine does not pack it yet.
gprs.access_number is for modules that dial the packet service (ATD*99#); SIM800-class
modules activate the APN with AT commands and do not use it.
"""

from app.comm import ConnectFailed, TcpBearer


class EthernetBearer(TcpBearer):
    """TcpBearer over the Ethernet interface `link` (drivers.ethernet.EthernetLink): before
    connecting, the link is checked (and brought up, with the static `config` (ip, mask,
    gateway, dns) or DHCP when None), so that a pulled cable is named as such; then `hosts`
    ((host, port) pairs) are tried in order."""

    def __init__(self, link, hosts, *, config=None, connect_ms=30000, io_ms=30000):
        super().__init__(hosts[0][0], hosts[0][1], connect_ms=connect_ms, io_ms=io_ms)
        self._link = link
        self.hosts = hosts
        self._config = config

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
            self.host, self.port = host, port
            try:
                super().connect()
                return
            except ConnectFailed as exc:
                failures.append(str(exc))
        raise ConnectFailed("; ".join(failures))


def _ordered(primary, backup, backup_first):
    # The primary, then the backup (None: there is none); the other way with host_select
    # = backup.
    if backup is None:
        return (primary,)
    return (backup, primary) if backup_first else (primary, backup)


def configured(terminal, board):
    """The bearer `terminal` (the terminal's app.params.Params) selects, on the devices
    `board` makes (board.modem(), board.gprs(), board.lan()). OSError if the board cannot
    make the device (on the virtual terminal: its emulator is not there)."""
    kind = terminal["bearer"]
    connect_ms = terminal["connect_timeout"] * 1000
    io_ms = terminal["send_timeout"] * 1000
    backup_first = terminal["host_select"] == "backup"
    if kind == "dialup":
        from app.comm_dial import DialBearer

        numbers = _ordered(terminal["dialup.phone1"], terminal["dialup.phone2"], backup_first)
        prefix = terminal["dialup.prefix"] if terminal["dialup.line"] == "extension" else None
        return DialBearer(board.modem(), numbers, outside_line=prefix, connect_ms=connect_ms)
    backup = terminal[kind + ".backup_host"]
    if backup is not None:
        backup = (backup, terminal[kind + ".backup_port"])
    hosts = _ordered((terminal[kind + ".host"], terminal[kind + ".port"]), backup, backup_first)
    if kind == "gprs":
        from app.comm_gprs import GprsBearer

        module = board.gprs(connect_timeout_ms=connect_ms, send_timeout_ms=io_ms)
        return GprsBearer(
            module,
            terminal["gprs.apn"],
            hosts,
            user=terminal["gprs.user"] or "",
            password=terminal["gprs.password"] or "",
            registration_ms=connect_ms,
        )
    config = None
    if not terminal["ethernet.dhcp"]:
        gateway = terminal["ethernet.gateway"]
        dns = terminal["ethernet.dns"] or gateway
        config = (terminal["ethernet.ip"], terminal["ethernet.mask"], gateway, dns)
    return EthernetBearer(board.lan(), hosts, config=config, connect_ms=connect_ms, io_ms=io_ms)
