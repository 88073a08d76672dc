"""Slips on the printer: the copies of a transaction's slip, the tear-off between them,
paper-out mid-slip, and what keeps a slip reprintable (docs/menus.md, "Slips").

    slips.print_result(term, app, result)      # after a transaction or a settlement
    slips.reprint(term, app, stan=None)        # a journal entry's slip again (REPRINT)
    slips.reprint_settlement(term, app)        # the last settlement slip again
    slips.pending(term)                        # (app, stan, copies printed) of a slip not
                                               # (wholly) printed, or None

Copies: the parameter receipt_copies (1-3): the merchant copy (商户存根, with the signature
line), then the cardholder copy (持卡人存根), then a bank copy (银行存根). Between two copies
the screen asks the cashier to tear off the one printed (请撕下商户联); the next follows on a
key or after 10 s. A settlement slip is printed once.

Paper-out (or the cover opened) mid-slip: the printer keeps what it was sent and the driver
says which line comes next (drivers/escpos.py's resume rule); the screen asks for paper, and
once it is loaded (ENTER, or the printer reporting paper again) the slip goes on from that
line: no line lost or printed twice. CANCEL, or the idle time without paper, gives up: the
slip stays reprintable.

Reprintable, power-safely: before a transaction's slips print, the record "slip" (app,
STAN, batch, copies wanted and printed; never a card number) is saved, updated after each
copy and removed once all are out; the slip's content is in the journal (app.txn.receipt
makes it again, marked REPRINT). A settlement clears the journal, so its slip's lines (the
totals: no card data) are saved first, in "settleN". Training-mode slips say TRAINING 培训 in
large type at their top and bottom.
"""

import struct

from app.ui import text
from drivers import keypad as kp

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

_TEAR_MS = const(10000)  # the tear-off prompt, then the next copy prints anyway
_PAPER_POLL_MS = const(1000)  # while asking for paper, the printer's status this often
_RECORD = "slip"
_COPIES = ("merchant", "cardholder", "bank")
# TRAINING 培训, in GB18030 for the printer's font ROM.
_TRAINING_LINE = b"TRAINING \xc5\xe0\xd1\xb5"


def pending(term):
    """(app, stan, copies printed) of the slip whose printing did not finish, or None."""
    record = term.store.load(_RECORD)
    if record is None:
        return None
    app, _, done, _, stan, _ = struct.unpack(">BBBBII", record[1])
    return app, stan, done


def print_result(term, app, result):
    """The slips of `result` (the merchant copy in result.receipt_lines); see the module
    docstring. True when every copy printed."""
    lines = result.receipt_lines
    if not lines:
        return True
    training = result.training
    if result.settlement is not None:
        term.store.save("settle%d" % app, b"\n".join(lines))
        return _print(term, lines, training)
    copies = term.receipt_copies
    stan, batch = result.stan or 0, result.batch or 0
    record = bytearray(12)
    struct.pack_into(">BBBBII", record, 0, app, copies, 0, training, stan, batch)
    store = term.store
    store.save(_RECORD, record)
    for done in range(copies):
        if done:
            if not _tear_off(term):
                return False
            lines = term.engine(app).receipt(stan, _COPIES[done], False)
            if lines is None:
                break
        if not _print(term, lines, training):
            return False
        # A copy's lines go before its record is saved: the cardholder copy's, with the
        # void's screens loaded, were on the heap where the day's peak opens that file.
        lines = None
        record[2] = done + 1
        store.save(_RECORD, record)
    store.delete(_RECORD)
    return True


def reprint(term, app, stan=None, copy="merchant"):
    """Print a journal entry's slip again (the last one without `stan`), marked REPRINT.
    False when the journal has no such entry (the screen says so) or it did not print."""
    lines = term.engine(app).receipt(stan, copy, True)
    if lines is None:
        from app.txn import respcodes

        english, chinese = respcodes.terminal("not_found")
        term.ui.notice(text.REPRINT, (chinese, english), wait_ms=3000)
        return False
    done = _print(term, lines, term.training)
    record = pending(term)
    if done and record is not None and record[0] == app and record[1] == (stan or record[1]):
        term.store.delete(_RECORD)
    return done


def reprint_settlement(term, app):
    """The last settlement slip of `app` again; False if there is none or it did not
    print."""
    record = term.store.load("settle%d" % app)
    if record is None:
        return False
    lines = bytes(record[1]).split(b"\n")
    return _print(term, lines, term.training, True)


def _tear_off(term):
    # Between two copies: tear off the one printed. False when CANCEL drops the rest.
    code = term.ui.message(text.PRINTING, text.TEAR_OFF, text.NEXT_COPY, wait_ms=_TEAR_MS)
    return code != kp.CANCEL


def _print(term, lines, training, reprinted=False):
    """Print one slip; True once every line is out. Paper-out and an open cover ask for
    the cashier and resume at the line the driver names; CANCEL gives up (False)."""
    from drivers import escpos

    ui = term.ui
    printer = term.printer()
    if printer is None:
        ui.message(text.PRINTING, text.NO_PRINTER, text.REPRINT_LATER, wait_ms=5000)
        return False
    job = lines
    if training or reprinted:
        job = list(lines)
        if reprinted:
            job.append(b"*** REPRINT \xd6\xd8\xb4\xf2\xd3\xa1 ***")  # 重打印
        if training:
            banner = (escpos.CENTER | escpos.DOUBLE | escpos.BOLD, _TRAINING_LINE)
            job.insert(0, banner)
            job.append(banner)
    start = 0
    while True:
        ui.show(text.PRINTING, (None, text.PLEASE_WAIT))
        try:
            printer.print_job(job, start)
            return True
        except escpos.PaperOut as exc:
            start = exc.next_line
            problem, action = text.PAPER_OUT, text.LOAD_PAPER_ENTER
        except escpos.CoverOpen as exc:
            start = exc.next_line
            problem, action = text.COVER_OPEN, text.CLOSE_COVER_ENTER
        except escpos.PrinterOffline as exc:
            start = exc.next_line
            problem, action = text.PRINTER_SILENT, text.RETRY_OR_CANCEL
        if not _wait_for_printer(term, printer, problem, action):
            ui.message(text.PRINTING, problem, text.REPRINT_LATER, wait_ms=3000)
            return False


def _wait_for_printer(term, printer, problem, action):
    # True to go on (ENTER, or the printer ready again), False to give up (CANCEL, or the
    # idle time with no paper).
    ui = term.ui
    ui.show(text.PRINTING, (problem, action, text.CANCEL_TO_STOP))
    waited = 0
    while waited < ui.idle_ms:
        code = ui.keypad.get(_PAPER_POLL_MS)
        if code == kp.ENTER:
            return True
        if code == kp.CANCEL:
            return False
        if code is None:
            waited += _PAPER_POLL_MS
        try:
            if printer.status() == 0:
                return True
        except OSError:
            pass
    return False
