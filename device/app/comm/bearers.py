"""The bearer the terminal's parameters select, or an application chooses, built on the
board's devices.

    terminal = ParamStore(store).load(0)
    bearer = configured(terminal, board, chosen(terminal, ParamStore(store).load(1)))
    engine = Engine(1, store, storage_key, bearer)

An application may go over a bearer of its own (its parameter `bearer`: a terminal with
application 1 on Ethernet and application 2 on GPRS); without one it uses the terminal's
(`bearer`). Either way the bearer's settings are the terminal's section of it (the parameter
checks make sure the section is there: docs/packets.md).

- dialup: app.comm.dial.DialBearer over board.modem(), dialling dialup.phone1 then
  dialup.phone2, with dialup.prefix on an extension line (dialup.line = extension);
- gprs: app.comm.gprs.GprsBearer over board.gprs(), APN gprs.apn (user, password), opening
  gprs.host:port, then gprs.backup_host:backup_port;
- ethernet: app.comm.lan.EthernetBearer over board.lan(), DHCP or the static
  ethernet.ip/mask/gateway/dns, connecting to ethernet.host:port, then the backup.

host_select = backup tries the backup first. connect_timeout bounds each connection attempt,
send_timeout each send. Only the configured bearer's module is imported, and the board
imports only its driver: an idle driver would cost the terminal heap it does not have
(docs/transactions.md, §13).

dialup.lri (the 33-byte LRI header) is not applied: the engine does not pack it yet.
gprs.access_number is for modules that dial the packet service (ATD*99#); SIM800-class
modules activate the APN with AT commands and do not use it.
"""


def chosen(terminal, app=None):
    """The bearer ("dialup", "gprs", "ethernet") of requests for application `app` (its
    Params, or None): the one it chooses (its parameter bearer), else the terminal's."""
    return (app["bearer"] if app is not None else None) or terminal["bearer"]


def configured(terminal, board, kind=None):
    """The bearer `kind` (default: the one `terminal`, the terminal's app.store.params.Params,
    selects; an application's own: chosen()) with its settings from `terminal`, on the
    devices `board` makes (board.modem(), board.gprs(), board.lan()). OSError if the board
    cannot make the device (on the virtual terminal: its emulator is not there)."""
    kind = kind or terminal["bearer"]
    group = kind + "."  # the group's names are built: a long literal costs heap, a short not
    connect_ms = terminal["connect_timeout"] * 1000
    io_ms = terminal["send_timeout"] * 1000
    if kind == "dialup":
        first, second = terminal[group + "phone1"], terminal[group + "phone2"]
    else:
        first = (terminal[group + "host"], terminal[group + "port"])
        second = terminal[group + "backup_host"]
        if second is not None:
            second = (second, terminal[group + "backup_port"])
    if second is None:
        order = (first,)
    elif terminal["host_select"] == "backup":
        order = (second, first)
    else:
        order = (first, second)
    if kind == "dialup":
        from app.comm.dial import DialBearer

        prefix = terminal[group + "prefix"] if terminal[group + "line"] == "extension" else None
        return DialBearer(board.modem(), order, outside_line=prefix, connect_ms=connect_ms)
    if kind == "gprs":
        from app.comm.gprs import GprsBearer

        return GprsBearer(
            board.gprs(connect_timeout_ms=connect_ms, send_timeout_ms=io_ms),
            terminal[group + "apn"],
            order,
            user=terminal[group + "user"] or "",
            password=terminal[group + "password"] or "",
            registration_ms=connect_ms,
        )
    from app.comm.lan import EthernetBearer

    config = None
    if not terminal[group + "dhcp"]:
        gateway = terminal[group + "gateway"]
        dns = terminal[group + "dns"] or gateway
        config = (terminal[group + "ip"], terminal[group + "mask"], gateway, dns)
    return EthernetBearer(board.lan(), order, config=config, connect_ms=connect_ms, io_ms=io_ms)
