# The ESC/POS printer driver on MicroPython: bytes on the wire, status checks, paper out in
# the middle of a job and its resume (no line twice, none dropped), an offline printer.
import gc

from fakes import FakePrinter

from drivers import escpos
from drivers.escpos import (
    BOLD,
    CENTER,
    DOUBLE,
    RIGHT,
    CoverOpen,
    PaperOut,
    Printer,
    PrinterOffline,
)

# 签购单 and 商户名称 in GB18030 (encoded on the host: MicroPython has no GBK codec).
SLIP = b"\xc7\xa9\xb9\xba\xb5\xa5"
MERCHANT = b"\xc9\xcc\xbb\xa7\xc3\xfb\xb3\xc6"


def raises(error, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except error as exc:
        return exc
    raise AssertionError("%s not raised" % error.__name__)


def numbered(count):
    return [b"LINE %02d" % i for i in range(count)]


def printed_lines(printer_fake):
    # The text of every LF-terminated line the fake printed, control sequences removed.
    out = []
    for raw in bytes(printer_fake.printed).split(b"\n")[:-1]:
        i = raw.rfind(b"LINE ")
        out.append(raw[i:] if i >= 0 else raw)
    return out


def test_job_bytes_exactly():
    fake = FakePrinter()
    p = Printer(fake)
    job = [
        (CENTER | BOLD | DOUBLE, SLIP),
        MERCHANT + b": POSKIT",
        b"TERMINAL ID: 12345678",
        (RIGHT, b"RMB 0.01"),
    ]
    assert p.print_job(job) == 4
    expected = (
        b"\x1b@"  # init
        b"\x1ba\x01\x1bE\x01\x1d!\x11\x1c&" + SLIP + b"\n"  # centre, bold, double, Chinese
        b"\x1ba\x00\x1bE\x00\x1d!\x00" + MERCHANT + b": POSKIT\n"  # back to normal
        b"TERMINAL ID: 12345678\n"  # nothing changes: no commands
        b"\x1ba\x02RMB 0.01\n"
        b"\x1bd\x04\x1dV\x01"  # feed past the cutter, partial cut
    )
    assert fake.printed == expected
    # Status asked before the job, after 4 lines (none: the job ends there) and at its end.
    assert fake.written.count(b"\x10\x04\x02") == 2
    assert fake.written.count(b"\x10\x04\x04") == 2


def test_status_checked_every_few_lines():
    fake = FakePrinter()
    Printer(fake, check_every=3).print_job(numbered(10))
    # before, after lines 3, 6, 9, and at the end: 5 checks of two requests each.
    assert fake.queries == 10


def test_paper_out_mid_job_then_resume_prints_every_line_once():
    fake = FakePrinter(paper_lines=5)
    p = Printer(fake, check_every=4)
    job = numbered(12)
    exc = raises(PaperOut, p.print_job, job)
    # The check after line 8 saw the paper end; lines 5..7 wait in the printer.
    assert exc.next_line == 8
    assert printed_lines(fake) == job[:5]
    assert b"\x1dV" not in fake.printed  # not cut
    fake.paper()  # a new roll: the printer prints what it held
    assert printed_lines(fake) == job[:8]
    assert p.print_job(job, start=exc.next_line) == 12
    assert printed_lines(fake) == job  # every line once, in order
    assert fake.printed.count(b"\x1b@") == 1  # no re-init on resume
    assert fake.printed.endswith(b"\x1bd\x04\x1dV\x01")


def test_paper_out_at_every_point_of_a_job():
    job = numbered(9)
    for paper in range(10):
        for every in (1, 2, 4):
            fake = FakePrinter(paper_lines=paper)
            p = Printer(fake, check_every=every)
            start = 0
            for _ in range(12):
                try:
                    p.print_job(job, start=start)
                    break
                except PaperOut as exc:
                    start = exc.next_line
                    fake.paper()
            assert printed_lines(fake) == job, (paper, every)
            assert fake.printed.count(b"\x1dV\x01") == 1


def test_paper_out_before_the_job():
    fake = FakePrinter(paper_lines=0)
    p = Printer(fake)
    exc = raises(PaperOut, p.print_job, numbered(3))
    assert exc.next_line == 0
    assert printed_lines(fake) == []


def test_paper_out_after_the_last_line_resumes_with_the_cut():
    fake = FakePrinter(paper_lines=3)
    p = Printer(fake)
    exc = raises(PaperOut, p.print_job, numbered(3))
    assert exc.next_line == 3
    fake.paper()
    p.print_job(numbered(3), start=3)
    assert printed_lines(fake) == numbered(3)
    assert fake.printed.endswith(b"\x1dV\x01")


def test_cover_open_and_offline():
    fake = FakePrinter()
    fake.cover_open = True
    exc = raises(CoverOpen, Printer(fake).print_job, numbered(2))
    assert exc.next_line == 0
    fake = FakePrinter()
    fake.silent = True
    exc = raises(PrinterOffline, Printer(fake, status_timeout_ms=20).print_job, numbered(2))
    assert exc.next_line == 0


def test_status_flags():
    fake = FakePrinter()
    p = Printer(fake)
    assert p.status() == 0
    fake.paper_lines = 0
    assert p.status() & escpos.PAPER_OUT
    fake.paper_lines = None
    fake.cover_open = True
    assert p.status() & escpos.COVER_OPEN


def test_noise_before_a_status_answer_is_ignored():
    fake = FakePrinter()
    fake._rx.extend(b"\xff\x00")  # a stale byte and one that is no status byte
    assert Printer(fake).status() == 0


def test_str_lines_must_be_ascii():
    fake = FakePrinter()
    p = Printer(fake)
    p.line("plain ascii")
    assert fake.printed.endswith(b"plain ascii\n")
    raises(ValueError, p.line, "签购单")


def test_columns_and_two_columns():
    assert escpos.columns(b"AMOUNT") == 6
    assert escpos.columns(SLIP) == 6  # three Chinese characters, two columns each
    assert escpos.columns(b"\x81\x30\x81\x30") == 2  # a 4-byte GB18030 character
    line = escpos.two_columns(MERCHANT + b":", b"RMB 0.01")
    assert escpos.columns(line) == 32 and line.endswith(b" RMB 0.01")
    raises(ValueError, escpos.two_columns, b"X" * 20, b"Y" * 12)


class _NullUART:
    # Answers every status request "ready" without allocating, so gc.mem_alloc measures the
    # driver alone.
    def __init__(self):
        self.ready = 0

    def write(self, buf):
        if len(buf) == 3 and buf[0] == 0x10:
            self.ready = 1
        return len(buf)

    def any(self):
        return self.ready

    def readinto(self, buf):
        buf[0] = 0x12
        self.ready = 0
        return 1


def _allocated(job):
    p = Printer(_NullUART(), check_every=4)
    gc.collect()
    before = gc.mem_alloc()
    p.print_job(job)
    return gc.mem_alloc() - before


def test_no_allocation_per_character():
    short = [(CENTER, b"x")] * 16
    long = [(CENTER, SLIP * 5)] * 16
    gc.disable()
    try:
        assert _allocated(long) == _allocated(short)
    finally:
        gc.enable()
