"""Ethernet bearer, link level: bring the interface up with a static address or DHCP, report
link and address, wait for them with deadlines.

    link = EthernetLink(nic)                 # nic: network.LAN (W5500) made by the board
    link.up()                                # DHCP -> ("192.168.1.23", mask, gateway, dns)
    link.up(("192.168.1.50", "255.255.255.0", "192.168.1.1", "192.168.1.1"))   # static
    link.status()                            # DOWN, NO_ADDRESS or UP
    link.check()                             # before a connect: LinkDown / NoAddress
    ... sockets (the TCP bearer in app/comm) ...
    link.down()

`nic` is anything with the ESP32 port's network.LAN interface: active([bool]), status()
(the ETH_* event codes), ifconfig([tuple | "dhcp"]), config("mac"). On the ESP32 the board
makes it from the W5500 on SPI:

    network.LAN(spi=spi, cs=Pin(5), int=Pin(35), phy_type=network.PHY_W5500, phy_addr=0)

On the unix port there is no network module: SimLink below stands in for the interface over
the host's own network (sockets work as they are), and lets tests pull the cable.

Quirks recorded here:
- LAN.isconnected() changed meaning between MicroPython versions (PHY link up in older ports,
  "got an IP address" in newer ones), so the driver reads status() only: ETH_CONNECTED and
  ETH_GOT_IP mean the link is up.
- ETH_GOT_IP is posted for a DHCP lease; a static address set by ifconfig() may never post it,
  so "has an address" is decided from ifconfig() (not 0.0.0.0) with the link up.
- The LAN object is a singleton that outlives a soft reset with its last configuration:
  up() always says which mode it wants. ifconfig("dhcp") on an interface whose DHCP client
  already runs may raise OSError (already started); that one is harmless and ignored.
"""

import time

from drivers import message

try:
    from micropython import const
except ImportError:  # CPython host tests: const() of an int is the int
    const = int


# network.ETH_* of the ESP32 port (LAN.status()): the last Ethernet/IP event seen.
ETH_INITIALIZED = const(0)
ETH_STARTED = const(1)
ETH_STOPPED = const(2)
ETH_CONNECTED = const(3)
ETH_DISCONNECTED = const(4)
ETH_GOT_IP = const(5)

# EthernetLink.status()
DOWN = const(0)  # no link: cable, switch, or the interface is off
NO_ADDRESS = const(1)  # link up, no IP address (DHCP still asking, or no answer)
UP = const(2)  # link up with an address: sockets can connect
STATUS_TEXT = ("link down", "no address", "up")

_NO_IP = "0.0.0.0"

# Messages, numbered from 0 by _M_* and formatted by _text(): one literal, not a heap object
# per message (40 bytes each on the 64-bit unix port, 20 on the ESP32).
_M_NOT_IPV4 = const(0)
_M_CONFIG = const(1)
_M_IP = const(2)
_M_MASK = const(3)
_M_GATEWAY = const(4)
_M_DNS = const(5)
_M_ZERO_IP = const(6)
_M_LINK_DOWN = const(7)
_M_LINK_LOST = const(8)
_M_NO_DHCP = const(9)
_M_NOT_TAKEN = const(10)
_M_NO_ADDRESS = const(11)
_M_IFCONFIG = const(12)
_M_CONFIG_PARAM = const(13)
_MESSAGES = (
    "|%s must be a dotted IPv4 address, got %r"  # _M_NOT_IPV4
    "|static IP configuration must be (ip, mask, gateway, dns)"  # _M_CONFIG
    "|IP address"  # _M_IP
    "|subnet mask"  # _M_MASK
    "|gateway"  # _M_GATEWAY
    "|DNS server"  # _M_DNS
    "|IP address 0.0.0.0 cannot be a static address"  # _M_ZERO_IP
    "|Ethernet link down: check the cable and the switch port"  # _M_LINK_DOWN
    "|Ethernet link lost while waiting for an address"  # _M_LINK_LOST
    "|no IP address: no DHCP server answered"  # _M_NO_DHCP
    "|static IP address not taken by the interface"  # _M_NOT_TAKEN
    "|no IP address on the Ethernet interface"  # _M_NO_ADDRESS
    "|ifconfig mode must be 'dhcp' or a 4-tuple"  # _M_IFCONFIG
    "|unknown config param"  # _M_CONFIG_PARAM
    "|"
)


def _text(number, args=None):
    return message(_MESSAGES, number, args)


class EthernetError(OSError):
    """Base of the Ethernet bearer's named errors."""


class LinkDown(EthernetError):
    """No Ethernet link: check the cable and the switch port (link LED)."""


class NoAddress(EthernetError):
    """Link up but no IP address: no DHCP server answered (or the static address was not
    taken). Check the network's DHCP, or set a static address in the comm parameters."""


def check_ipv4(text, what="address"):
    """`text` (str) as a dotted-quad IPv4 address; ValueError naming `what` otherwise."""
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError(_text(_M_NOT_IPV4, (what, text)))
    for part in parts:
        if not part or len(part) > 3 or not part.isdigit() or int(part) > 255:
            raise ValueError(_text(_M_NOT_IPV4, (what, text)))
    return text


def check_config(config):
    """A static configuration (ip, mask, gateway, dns): four IPv4 strings. Returns a tuple."""
    if len(config) != 4:
        raise ValueError(_text(_M_CONFIG))
    for i in range(4):
        check_ipv4(config[i], _text(_M_IP + i))
    if config[0] == _NO_IP:
        raise ValueError(_text(_M_ZERO_IP))
    return tuple(config)


class EthernetLink:
    """The Ethernet interface as the comm layer sees it; see the module docstring.

    Options (keyword-only): `link_timeout_ms` for the link to come up (a switch port takes
    1-3 s to negotiate), `dhcp_timeout_ms` for a DHCP lease.
    """

    def __init__(self, nic, *, link_timeout_ms=5000, dhcp_timeout_ms=15000):
        self._nic = nic
        self._link_timeout = link_timeout_ms
        self._dhcp_timeout = dhcp_timeout_ms
        self.static = None  # the static configuration in use, or None for DHCP

    def up(self, config=None):
        """Activate the interface with a static `config` (ip, mask, gateway, dns) or, when
        None, DHCP; wait for the link and the address. Returns address(). Raises LinkDown or
        NoAddress at the deadlines (the interface stays active: the cable may come later)."""
        nic = self._nic
        if config is not None:
            config = check_config(config)
        nic.active(True)
        if config is None:
            try:
                nic.ifconfig("dhcp")
            except OSError:
                pass  # the DHCP client is already running (see the module docstring)
        else:
            nic.ifconfig(config)
        self.static = config
        self.wait(self._link_timeout, self._dhcp_timeout)
        return self.address()

    def wait(self, link_timeout_ms, address_timeout_ms=0):
        """Wait until the link is up (LinkDown after `link_timeout_ms`), then until it has an
        address (NoAddress after `address_timeout_ms` more)."""
        deadline = time.ticks_add(time.ticks_ms(), link_timeout_ms)
        while not self._link():
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise LinkDown(_text(_M_LINK_DOWN))
            time.sleep_ms(10)
        deadline = time.ticks_add(time.ticks_ms(), address_timeout_ms)
        while self.status() != UP:
            if not self._link():
                raise LinkDown(_text(_M_LINK_LOST))
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                if self.static is None:
                    raise NoAddress(_text(_M_NO_DHCP))
                raise NoAddress(_text(_M_NOT_TAKEN))
            time.sleep_ms(10)

    def status(self):
        """DOWN, NO_ADDRESS or UP (STATUS_TEXT[status] for the screen)."""
        if not self._link():
            return DOWN
        if self._ip() == _NO_IP:
            return NO_ADDRESS
        return UP

    def check(self):
        """Raise LinkDown or NoAddress unless the link is up with an address (the comm layer
        calls this before connecting, so a pulled cable is named as such)."""
        status = self.status()
        if status == DOWN:
            raise LinkDown(_text(_M_LINK_DOWN))
        if status == NO_ADDRESS:
            raise NoAddress(_text(_M_NO_ADDRESS))

    def address(self):
        """(ip, mask, gateway, dns) while UP, else None."""
        if self.status() != UP:
            return None
        return tuple(self._nic.ifconfig())

    def mac(self):
        """The interface's MAC address as "AA:BB:CC:DD:EE:FF" (for the install record)."""
        raw = self._nic.config("mac")
        return ":".join("%02X" % b for b in raw)

    def down(self):
        """Deactivate the interface."""
        self._nic.active(False)

    def _link(self):
        if not self._nic.active():
            return False
        status = self._nic.status()
        return status == ETH_CONNECTED or status == ETH_GOT_IP

    def _ip(self):
        return self._nic.ifconfig()[0]


class SimLink:
    """A network.LAN stand-in for the unix port: the host's network is the "Ethernet", and
    sockets reach it directly. Link and DHCP follow what a W5500 on a switch would report, and
    tests can pull the cable (unplug()/plug()) or take the DHCP server away (dhcp=None).

    `dhcp` is the lease a DHCP server hands out (ip, mask, gateway, dns); `dhcp_delay_ms` how
    long it takes after the link comes up; `link_delay_ms` the link negotiation time.
    """

    def __init__(
        self,
        *,
        plugged=True,
        dhcp=("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1"),
        dhcp_delay_ms=0,
        link_delay_ms=0,
        mac=b"\x02\x50\x4f\x53\x00\x01",
    ):
        self.plugged = plugged
        self.dhcp = dhcp
        self.dhcp_delay_ms = dhcp_delay_ms
        self.link_delay_ms = link_delay_ms
        self._mac = mac
        self._active = False
        self._static = None  # static config, or None for DHCP
        self._lease = None
        self._link_since = None  # ticks_ms when the link came up
        self._status = ETH_INITIALIZED

    def active(self, value=None):
        if value is None:
            return self._active
        if value and not self._active:
            self._active = True
            self._status = ETH_STARTED
            if self.plugged:
                self._link_up()
        elif not value and self._active:
            self._active = False
            self._link_since = None
            self._lease = None
            self._status = ETH_STOPPED
        return None

    def unplug(self):
        """Pull the cable: the link goes down, a DHCP lease is dropped."""
        self.plugged = False
        self._link_since = None
        self._lease = None
        if self._active:
            self._status = ETH_DISCONNECTED

    def plug(self):
        """Plug the cable back in: the link comes up (after link_delay_ms)."""
        self.plugged = True
        if self._active and self._link_since is None:
            self._link_up()

    def _link_up(self):
        self._link_since = time.ticks_ms()

    def _update(self):
        if not self._active or self._link_since is None:
            return
        up_for = time.ticks_diff(time.ticks_ms(), self._link_since)
        if up_for < self.link_delay_ms:
            self._status = ETH_STARTED
            return
        if self._status in (ETH_STARTED, ETH_DISCONNECTED):
            self._status = ETH_CONNECTED
        if self._static is None and self._lease is None and self.dhcp is not None:
            if up_for >= self.link_delay_ms + self.dhcp_delay_ms:
                self._lease = tuple(self.dhcp)
                self._status = ETH_GOT_IP

    def status(self):
        self._update()
        return self._status

    def isconnected(self):
        return self.status() == ETH_GOT_IP

    def ifconfig(self, config=None):
        if config is None:
            self._update()
            if self._static is not None:
                return self._static  # as on the ESP32: set, whatever the link does
            if self._lease is not None:
                return self._lease
            return (_NO_IP, _NO_IP, _NO_IP, _NO_IP)
        if config == "dhcp":
            self._static = None
            return None
        if isinstance(config, str):
            raise ValueError(_text(_M_IFCONFIG))
        self._static = tuple(config)
        self._lease = None
        return None

    def config(self, name):
        if name == "mac":
            return self._mac
        raise ValueError(_text(_M_CONFIG_PARAM))
