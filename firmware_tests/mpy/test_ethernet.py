# The Ethernet link driver on MicroPython: DHCP and static set-up as the ESP32's network.LAN
# is told them, link and address waits ending in LinkDown / NoAddress, status for the screen,
# and the unix stand-in SimLink with its cable pulled.
import time

from fakes_io import FakeNic
from mptest import expect_error

from drivers import ethernet
from drivers.ethernet import (
    DOWN,
    NO_ADDRESS,
    UP,
    EthernetError,
    EthernetLink,
    LinkDown,
    NoAddress,
    SimLink,
)

STATIC = ("192.168.1.50", "255.255.255.0", "192.168.1.1", "192.168.1.1")
# ETH_* codes of the ESP32 port
STARTED, CONNECTED, DISCONNECTED, GOT_IP = 1, 3, 4, 5


def link(nic, **options):
    options.setdefault("link_timeout_ms", 100)
    options.setdefault("dhcp_timeout_ms", 100)
    return EthernetLink(nic, **options)


def test_dhcp_up_asks_for_dhcp_and_returns_the_lease():
    nic = FakeNic([STARTED, STARTED, CONNECTED, CONNECTED, GOT_IP])
    address = link(nic).up()
    assert address == ("10.0.0.7", "255.255.255.0", "10.0.0.1", "10.0.0.1")
    assert nic.calls == [("active", True), ("ifconfig", "dhcp")]


def test_dhcp_already_running_is_not_an_error():
    nic = FakeNic([GOT_IP])
    nic.dhcp_running = True  # the LAN singleton kept its DHCP client over a soft reset
    assert link(nic).up()[0] == "10.0.0.7"


def test_static_address_is_set_and_up_without_got_ip():
    # A static address may never post ETH_GOT_IP: link up + the address is enough.
    nic = FakeNic([STARTED, CONNECTED])
    lan = link(nic)
    assert lan.up(STATIC) == STATIC
    assert nic.calls == [("active", True), ("ifconfig", STATIC)]
    assert lan.status() == UP
    assert lan.static == STATIC


def test_no_link_is_link_down():
    nic = FakeNic([STARTED])
    lan = link(nic)
    exc = expect_error(LinkDown, ["cable"], lan.up)
    assert isinstance(exc, EthernetError) and isinstance(exc, OSError)
    assert lan.status() == DOWN
    assert lan.address() is None
    expect_error(LinkDown, ["cable"], lan.check)


def test_link_but_no_dhcp_answer_is_no_address():
    nic = FakeNic([CONNECTED])
    lan = link(nic)
    expect_error(NoAddress, ["DHCP"], lan.up)
    assert lan.status() == NO_ADDRESS
    expect_error(NoAddress, ["no IP address"], lan.check)


def test_link_lost_while_waiting_for_the_lease():
    nic = FakeNic([CONNECTED, CONNECTED, DISCONNECTED])
    expect_error(LinkDown, ["lost"], link(nic).up)


def test_cable_pulled_after_up_shows_in_status():
    nic = FakeNic([GOT_IP])
    lan = link(nic)
    lan.up()
    nic.statuses = [DISCONNECTED]
    assert lan.status() == DOWN
    assert ethernet.STATUS_TEXT[lan.status()] == "link down"
    nic.statuses = [CONNECTED, GOT_IP]
    assert lan.status() == UP


def test_bad_static_configurations():
    lan = link(FakeNic())
    expect_error(ValueError, ["(ip, mask, gateway, dns)"], lan.up, STATIC[:3])
    expect_error(ValueError, ["subnet mask"], lan.up, (STATIC[0], "255.255.255") + STATIC[2:])
    expect_error(ValueError, ["IP address"], lan.up, ("192.168.1.256",) + STATIC[1:])
    expect_error(ValueError, ["gateway"], lan.up, (STATIC[0], STATIC[1], "a.b.c.d", STATIC[3]))
    expect_error(ValueError, ["0.0.0.0"], lan.up, ("0.0.0.0",) + STATIC[1:])


def test_mac_and_down():
    nic = FakeNic([GOT_IP])
    lan = link(nic)
    assert lan.mac() == "24:0A:C4:12:34:56"
    lan.up()
    lan.down()
    assert nic.calls[-1] == ("active", False)
    assert lan.status() == DOWN


def test_simlink_dhcp_and_cable():
    sim = SimLink(dhcp_delay_ms=20)
    lan = link(sim)
    assert lan.status() == DOWN  # not active yet
    assert lan.up() == ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
    assert sim.isconnected()
    sim.unplug()
    assert lan.status() == DOWN
    expect_error(LinkDown, ["cable"], lan.check)
    sim.plug()
    lan.wait(100, 100)  # the lease comes back after dhcp_delay_ms
    assert lan.status() == UP


def test_simlink_without_a_dhcp_server_and_static():
    sim = SimLink(dhcp=None)
    lan = link(sim)
    expect_error(NoAddress, ["DHCP"], lan.up)
    assert lan.up(STATIC) == STATIC
    assert sim.status() == CONNECTED  # like the ESP32: no GOT_IP for a static address


def test_simlink_unplugged_from_the_start():
    sim = SimLink(plugged=False, link_delay_ms=10)
    lan = link(sim)
    expect_error(LinkDown, ["cable"], lan.up)
    sim.plug()
    time.sleep_ms(15)
    lan.wait(100, 100)
    assert lan.address()[0] == "127.0.0.1"


def test_steady_state_heap_is_small():
    import gc

    nic = FakeNic([GOT_IP])
    gc.collect()
    before = gc.mem_alloc()
    lan = EthernetLink(nic)
    gc.collect()
    used = gc.mem_alloc() - before
    assert used < 256, used
    lan.up()
