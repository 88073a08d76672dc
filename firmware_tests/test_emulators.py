"""The real drivers, on MicroPython, against the host-side emulators over TCP.

Each test starts an emulator (and, where a call or a socket needs a far end, a tiny TCP host
on 127.0.0.1: `echo_host`, `hangup_host` of conftest.py), then runs a device snippet on the
MicroPython unix port that reaches the emulator through board.unix_sim.SocketUART. Everything
is bounded by timeouts; nothing asserts a time. The GPRS modules: test_gprs_emulators.py.
"""

import json
import textwrap
import threading

from pngread import ink

from hostlib import micropython
from hostlib.emulators import Line, ModemEmulator, PrinterEmulator, Receipt
from hostlib.glyphs import Font

# Compiling the drivers from source needs more heap than the ESP32 has (the terminal loads
# them precompiled); the driver heap figures come from test_*.py under mpy/ and the bench.
HEAP = "512K"


def device(code, timeout=30):
    """Run a device snippet on MicroPython; it prints one JSON object, returned here."""
    run = micropython.run(code=textwrap.dedent(code), heap=HEAP, timeout=timeout).check()
    return json.loads(run.stdout.strip().splitlines()[-1])


# --- dial-up modem ---------------------------------------------------------------------------

MODEM_PRELUDE = """
import json
from board.unix_sim import SocketUART
from drivers import hayes
uart = SocketUART("127.0.0.1", %d, timeout_ms=2000)
modem = hayes.Modem(uart, guard_ms=50, command_timeout_ms=2000, connect_timeout_ms=3000)
out = {}
"""


def test_dial_through_a_pbx_and_exchange_bytes_with_the_host(echo_host):
    with ModemEmulator(
        {"95555": ("127.0.0.1", echo_host.port)}, outside_line="0", guard_s=0.05
    ) as m:
        out = device(
            MODEM_PRELUDE % m.port
            + """
modem.setup()
out["rate"] = modem.dial("95555", outside_line="0")
modem.write(b"\\x00\\x05hello")
buf = bytearray(7)
modem.read_exactly(buf, 5000)
out["reply"] = buf.decode()
modem.hangup()
out["connected"] = modem.connected
print(json.dumps(out))
"""
        )
        assert out == {"rate": 2400, "reply": "\x00\x05hello", "connected": False}
        assert m.dialled == ["T0,95555"]
        assert m.commands == ["ATZ", "ATE0V1", "AT&K0", "ATX4", "ATDT0,95555", "ATH"]
        assert m.escapes == 1 and not m.online
    assert bytes(echo_host.received) == b"\x00\x05hello"


def test_dial_failures_reach_the_device_as_named_errors(echo_host):
    numbers = {"95555": ("127.0.0.1", echo_host.port)}
    with ModemEmulator(numbers, outside_line="0", dial_tone=False, guard_s=0.05) as m:
        m.inject_result("BUSY")
        m.inject_result("NO ANSWER")
        out = device(
            MODEM_PRELUDE % m.port
            + """
modem.setup()
def attempt(number="95555", **options):
    try:
        modem.dial(number, **options)
    except hayes.HayesError as exc:
        return type(exc).__name__
    rate = modem.rate
    modem.hangup()
    return "CONNECT %d" % rate
out["busy"] = attempt(outside_line="0", blind=True)
out["no answer"] = attempt(outside_line="0", blind=True)
out["no dial tone"] = attempt(outside_line="0")
out["no outside line"] = attempt(blind=True)
out["unknown number"] = attempt("12345", outside_line="0", blind=True)
out["blind"] = attempt(outside_line="0", blind=True)
print(json.dumps(out))
"""
        )
    assert out == {
        "busy": "ModemBusy",
        "no answer": "NoAnswer",
        "no dial tone": "NoDialTone",  # ATX4 waits for a tone this PBX does not give
        "no outside line": "ModemBusy",  # an extension dialling without the prefix
        "unknown number": "NoCarrier",
        "blind": "CONNECT 2400",
    }


def test_a_dial_tone_check_stays_in_command_mode(echo_host):
    # What the terminal's power-up checks send (app/ui/powerup.py): ATX4DT; then ATH.
    check = """
modem.setup()
def tone():
    try:
        modem.command(b"ATX4DT;", 500)
        return "OK"
    except hayes.HayesError as exc:
        return type(exc).__name__
    finally:
        modem.command(b"ATH")
out["tone"] = tone()
print(json.dumps(out))
"""
    numbers = {"95555": ("127.0.0.1", echo_host.port)}
    with ModemEmulator(numbers, guard_s=0.05) as m:
        assert device(MODEM_PRELUDE % m.port + check) == {"tone": "OK"}
        assert m.dialled == ["T;"] and not m.online
    with ModemEmulator(numbers, dial_tone=False, guard_s=0.05) as m:
        # NO DIALTONE is not the OK command() waits for: it runs out (the power-up check's
        # "no dial tone")
        assert device(MODEM_PRELUDE % m.port + check) == {"tone": "ModemTimeout"}
    assert echo_host.received == bytearray()  # nothing was put through


def test_host_hanging_up_is_carrier_loss_after_the_data(hangup_host):
    with ModemEmulator({"95555": ("127.0.0.1", hangup_host.port)}, guard_s=0.05) as m:
        out = device(
            MODEM_PRELUDE % m.port
            + """
modem.setup()
modem.dial("95555")
modem.write(b"ping")
buf = bytearray(4)
modem.read_exactly(buf, 5000)
out["reply"] = buf.decode()
try:
    modem.readinto(buf, 5000)
except hayes.NoCarrier:
    out["lost"] = True
modem.hangup()
print(json.dumps(out))
"""
        )
        assert out == {"reply": "ping", "lost": True}
        assert m.commands[-1] == "ATH" and m.escapes == 0  # no +++ once the call is gone


def test_silent_dial_times_out_and_is_aborted():
    with ModemEmulator({}, guard_s=0.05) as m:
        m.inject_result("SILENT")
        out = device(
            MODEM_PRELUDE.replace("connect_timeout_ms=3000", "connect_timeout_ms=300") % m.port
            + """
modem.setup()
try:
    modem.dial("95555")
except hayes.ModemTimeout:
    out["timeout"] = True
modem.command(b"AT")
out["usable"] = True
print(json.dumps(out))
"""
        )
        assert out == {"timeout": True, "usable": True}
        assert m.mode == "command"


# --- printer ----------------------------------------------------------------------------------

SLIP = [
    ("center", True, 2, "签购单"),
    ("left", False, 1, "商户名称: 测试商户"),
    ("left", False, 1, "MERCHANT NO: 123456789012345"),
    ("left", False, 1, "TERMINAL NO: 12345678"),
    ("left", False, 1, "CARD NO: 622202******1234"),
    ("right", True, 1, "RMB 0.01"),
    ("left", False, 1, "持卡人签名 CARDHOLDER SIGNATURE"),
]


def slip_job():
    # The job as device source: GB18030 bytes made here, on the host.
    items = []
    for align, bold, size, text in SLIP:
        style = ("CENTER", "LEFT", "RIGHT")[("center", "left", "right").index(align)]
        style += " | BOLD" if bold else ""
        style += " | DOUBLE" if size == 2 else ""
        items.append("(%s, %r)" % (style, text.encode("gb18030")))
    return "[" + ", ".join(items) + "]"


PRINTER_PRELUDE = """
import json
from board.unix_sim import SocketUART
from drivers.escpos import *
uart = SocketUART("127.0.0.1", %d, timeout_ms=2000)
printer = Printer(uart, status_timeout_ms=1000, check_every=3)
out = {}
"""


def test_receipt_printed_and_rendered_to_text():
    with PrinterEmulator() as p:
        out = device(
            PRINTER_PRELUDE % p.port
            + "job = %s\n" % slip_job()
            + """
out["lines"] = printer.print_job(job)
printer.print_job([b"SECOND COPY"])
print(json.dumps(out))
"""
        )
        p.wait_for(lambda: len(p.receipts) == 2, timeout=30, what="two cuts")
        first = p.receipts[0]
        assert out == {"lines": len(SLIP)}
        assert [(x.align, x.bold, x.width, x.text) for x in first.lines] == SLIP
        text = first.text().splitlines()
        assert text[0] == " " * 10 + "签购单"  # centred: 3 double-width characters
        assert text[5] == " " * 24 + "RMB 0.01"
        assert p.receipts[1].texts() == ["SECOND COPY"]
        assert p.received_bytes < 400  # see docs/drivers.md for the figure


def test_paper_out_mid_receipt_then_resume_through_the_emulator():
    job_lines = ["LINE %02d 行" % i for i in range(12)]
    with PrinterEmulator() as p:
        p.paper_out_after(5)
        result = {}

        def run():
            result["out"] = device(
                PRINTER_PRELUDE % p.port
                + "job = %r\n" % [line.encode("gb18030") for line in job_lines]
                + """
try:
    printer.print_job(job)
except PaperOut as exc:
    out["paper out at"] = exc.next_line
    # What the app does: wait (bounded) for the user to load paper, then resume.
    import time
    for _ in range(500):
        if not printer.status() & PAPER_OUT:
            break
        time.sleep_ms(20)
    printer.print_job(job, start=exc.next_line)
out["done"] = True
print(json.dumps(out))
"""
            )

        thread = threading.Thread(target=run)
        thread.start()
        p.wait_for(
            lambda: p.paper_out and p.status_requests >= 6, timeout=30, what="paper out seen"
        )
        p.load_paper()
        thread.join(timeout=60)
        assert result["out"] == {"paper out at": 6, "done": True}
        p.wait_for(lambda: p.receipts, what="the cut")
        assert p.receipts[0].texts() == job_lines  # every line once, in order


def test_offline_printer():
    with PrinterEmulator() as p:
        p.offline = True
        out = device(
            PRINTER_PRELUDE.replace("status_timeout_ms=1000", "status_timeout_ms=100") % p.port
            + """
try:
    printer.print_job([b"X"])
except PrinterOffline as exc:
    out["offline"] = exc.next_line
print(json.dumps(out))
"""
        )
    assert out == {"offline": 0}


def ink_bands(rows):
    """(top, bottom) of each run of dot rows with ink, top to bottom: the printed lines."""
    bands = []
    top = None
    for y, row in enumerate(rows + [[0]]):
        if any(row) and top is None:
            top = y
        elif not any(row) and top is not None:
            bands.append((top, y - 1))
            top = None
    return bands


def ink_span(rows, band):
    """(leftmost, rightmost) dot with ink in a band of rows."""
    columns = [x for row in rows[band[0] : band[1] + 1] for x, dot in enumerate(row) if dot]
    return min(columns), max(columns)


# A merchant copy: centred bold double-size title, the merchant's name in Chinese, the amount
# on the right.
RECEIPT_JOB = [
    ("CENTER | BOLD | DOUBLE", "商户联"),
    ("LEFT", "MERCHANT NAME:"),
    ("LEFT", "测试商户"),
    ("RIGHT | BOLD", "RMB 0.01"),
]


def test_receipt_png_is_drawn_as_the_head_prints_it(tmp_path):
    job = "[%s]" % ", ".join("(%s, %r)" % (s, t.encode("gb18030")) for s, t in RECEIPT_JOB)
    with PrinterEmulator(png_dir=tmp_path) as p:
        device(PRINTER_PRELUDE % p.port + "printer.print_job(%s)\nprint('{}')\n" % job)
        p.wait_for(lambda: p.receipts, what="the cut")
    assert p.missing_glyphs == []
    rows = ink((tmp_path / "receipt-001.png").read_bytes())
    assert len(rows[0]) == 384  # the 58 mm head
    title, label, name, amount, cut = ink_bands(rows)
    # The title sits in the middle of the paper, the amount against the right edge.
    left, right = ink_span(rows, title)
    assert abs(left - (383 - right)) <= 8 and right - left > 100, (left, right)
    left, right = ink_span(rows, amount)
    assert left > 192 and right >= 380, (left, right)
    # Double size: twice as tall as the same characters at normal size, twice as wide.
    title_height = title[1] - title[0] + 1
    name_height = name[1] - name[0] + 1
    assert abs(title_height - 2 * name_height) <= 3, (title_height, name_height)
    title_each = (ink_span(rows, title)[1] - ink_span(rows, title)[0]) / 3
    name_each = (ink_span(rows, name)[1] - ink_span(rows, name)[0]) / 4
    assert 1.7 < title_each / name_each < 2.3, (title_each, name_each)
    # A Chinese character takes about twice the width of an ASCII one (24 dots against 12).
    label_each = (ink_span(rows, label)[1] + 1) / len("MERCHANT NAME:")
    assert 1.6 < (ink_span(rows, name)[1] + 1) / 4 / label_each < 2.4
    # The cut: one dashed row across the paper, after the last line.
    assert cut[0] == cut[1] and cut[0] > amount[1]
    dashes = rows[cut[0]]
    assert sum(dashes) > 100 and sum(1 for a, b in zip(dashes, dashes[1:]) if a != b) > 10


def test_character_in_no_font_is_a_box_and_reported(tmp_path):
    card = "\U0001f4b3"  # a card emoji in a merchant name: in neither the subset nor Unifont
    with PrinterEmulator(png_dir=tmp_path) as p:
        with p.lock:
            p.received(b"\x1b@\x1c&" + ("卡" + card).encode("gb18030") + b"\n\x1dV\x01")
    assert p.receipts[0].texts() == ["卡" + card]
    assert p.missing_glyphs == [card] and p.receipts[0].missing_glyphs() == [card]
    rows = ink((tmp_path / "receipt-001.png").read_bytes())
    band = ink_bands(rows)[0]
    # The second 24-dot cell holds an empty rectangle: its top and bottom ink rows span the
    # cell, the rows between have ink only at the two sides.
    cell = [row[24:48] for row in rows[band[0] : band[1] + 1] if any(row[24:48])]
    assert sum(cell[0]) >= 20 and sum(cell[-1]) >= 20
    for row in cell[1:-1]:
        inked = [x for x, dot in enumerate(row) if dot]
        assert len(inked) == 2 and inked[1] - inked[0] >= 18, row


def test_receipts_are_saved_as_text_and_png_never_over_an_earlier_one(tmp_path):
    slip = "\x1b@TOTAL RMB %s\n\x1dV\x01"
    for amount in ("0.01", "0.02"):  # two printers in turn: a terminal restarted
        with PrinterEmulator(png_dir=tmp_path) as p:
            with p.lock:
                p.received((slip % amount).encode())
    assert sorted(f.name for f in tmp_path.iterdir()) == [
        "receipt-001.png",
        "receipt-001.txt",
        "receipt-002.png",
        "receipt-002.txt",
    ]
    assert (tmp_path / "receipt-002.txt").read_text(encoding="utf-8") == "TOTAL RMB 0.02\n"
    assert ink((tmp_path / "receipt-001.png").read_bytes())


def test_receipt_png_without_unifont_installed(tmp_path):
    # The terminal's own font alone: what it lacks is boxed and reported, the rest is drawn.
    subset_only = Font(fallback=None)
    receipt = Receipt([Line("签购单", "center", True, 2, 2)], cut=True)
    assert receipt.missing_glyphs(subset_only) == ["购"]
    rows = ink(receipt.png(tmp_path / "slip.png", subset_only).read_bytes())
    assert len(rows[0]) == 384 and len(ink_bands(rows)) == 2  # the title, the cut


def test_bold_is_one_dot_heavier(tmp_path):
    plain = ink(Receipt([Line("RMB 0.01")]).png(tmp_path / "plain.png").read_bytes())
    bold = ink(Receipt([Line("RMB 0.01", bold=True)]).png(tmp_path / "bold.png").read_bytes())
    assert sum(map(sum, bold)) > sum(map(sum, plain))
    band = ink_bands(plain)[0]
    assert ink_span(bold, band) == (ink_span(plain, band)[0], ink_span(plain, band)[1] + 1)


# --- the socket UART under asyncio -------------------------------------------------------------


def test_socket_uart_works_under_asyncio_streams(echo_host):
    out = device(
        """
import asyncio, json
from board.unix_sim import SocketUART
uart = SocketUART("127.0.0.1", %d)
async def main():
    reader = asyncio.StreamReader(uart)
    writer = asyncio.StreamWriter(uart, {})
    writer.write(b"AT\\r\\n")
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 5)
    return line.decode()
print(json.dumps({"line": asyncio.run(main())}))
"""
        % echo_host.port
    )
    assert out == {"line": "AT\r\n"}
