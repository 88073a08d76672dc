"""Host-link mode: the terminal served by the installer's tools over its console (docs/link.md).

    from app import hostlink
    hostlink.run()                  # from the REPL (the host tool does this over the raw REPL)
    hostlink.serve(term)            # from the admin menu, or the idle screen (below)

The idle screen listens for a host's RESET frame with app.comm.console.Watch, which keeps
this module off the heap until a host comes.

The mode shows 主机连接 / Host link on the screen, takes requests (app.hostcmd) in the
messages of docs/link.md, answers each, and returns to the application when the host says
`leave` or `reset`, when the host has been silent for `quiet_ms` (2 minutes), or when the
link fails (a frame unacknowledged after every try). Ctrl-C is an ordinary byte while it
serves: a frame may hold 0x03.

Messages: a request or an answer is split into parts of at most 1,020 bytes, each one DATA
frame of the console link (app.comm.consolelink) with a 4-byte part header (kind, message
number, part, parts). The terminal gathers a request's parts in one buffer allocated on
entry and acts on it only once the last part is in: a request cut short (a lost host, a
reset) is dropped whole, never half-applied. A part out of order is answered with the error
"incomplete", and the host sends the message again.

Memory: on entry, the link's buffers (about 4.1 KB) and one of a part's size (1 KB, for
the answers): a request of one part is read where the link received it; a longer one (a
packet) is gathered in a buffer of its size (at most MAX_MESSAGE, 8.7 KB) made when its
first part comes and let go once it was acted on. Each answer is encoded once (json) and
sent from that copy. The commands' modules are let go after each request (app.ui.forget),
so the mode's heap between requests is what it was on entry.
"""

import gc
import sys

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

REQUEST = const(0x51)  # "Q": host -> terminal
ANSWER = const(0x41)  # "A": terminal -> host
PART_HEADER = const(4)  # kind, message number, part, parts
PART_DATA = const(1020)  # the link's 1,024-byte payload less the part header
# A request: 2 bytes of JSON length, the JSON, and a binary attachment (a packet of at most
# 8,192 bytes, app.store.packet.MAX_PACKET) with room for the JSON beside it.
MAX_MESSAGE = const(8704)
QUIET_MS = const(120000)
TITLE = ("主机连接", "Host link")
_WAITING = ("等待主机...", "Waiting for host")
_BUSY = ("处理中...", "Working...")
_LEAVE = ("CANCEL 退出", "CANCEL: leave")
_TRANSIENT = (
    "app.ui.admin_version app.ui.admin_ui app.store.edits app.txn.link app.store.packet "
    "app.keys.identity app.crypto.tr31 app.ui.cashier app.ui.slips"
)
_SLICE_MS = const(200)  # between two looks at the keypad (CANCEL) while the host is quiet


class Messages:
    """Requests in and answers out over a ConsoleLink, in parts (see the module docstring).

    got = messages.receive(timeout_ms)   # (number, request dict, attachment view) or None
    messages.answer(number, {"ok": True, ...})
    """

    def __init__(self, link, max_message=MAX_MESSAGE):
        self.link = link
        self._max = max_message
        self._part = bytearray(PART_HEADER + PART_DATA)  # answers' parts
        self._partv = memoryview(self._part)
        self._buf = None  # a request of several parts, while it is gathered and acted on
        self._view = None
        self._len = -1  # bytes of the request gathered so far; -1: none begun
        self._number = 0
        self._next = 0

    def release(self):
        """Let go of a long request's buffer (after it was acted on)."""
        self._buf = self._view = None

    def _begin(self, number, parts):
        # A request of `parts` parts begins: a buffer for it.
        self.release()
        self._len = 0
        self._number = number
        self._next = 0
        gc.collect()
        self._buf = bytearray(min(parts * PART_DATA, self._max))
        self._view = memoryview(self._buf)

    def receive(self, timeout_ms):
        """The next whole request as (number, dict, memoryview of its attachment), or
        (number, None, reason) for one that cannot be taken (answer it with the reason);
        None when nothing has come for `timeout_ms` (a request begun stays begun: its next
        part may come; a new request drops it)."""
        while True:
            payload = self.link.receive(timeout_ms)
            if payload is None:
                return None
            if len(payload) < PART_HEADER or payload[0] != REQUEST:
                continue  # not a request: nothing to do with it
            number, part, parts = payload[1], payload[2], payload[3]
            if part == 0 and parts == 1:
                # One part: read where the link received it (valid until its next call,
                # after the request was acted on).
                self._len = -1
                self.release()
                return self._request(number, payload[PART_HEADER:], len(payload) - PART_HEADER)
            if part == 0:
                if parts * PART_DATA > self._max + PART_DATA:
                    self._len = -1
                    return number, None, "too_long"
                self._begin(number, parts)
            elif self._len < 0 or number != self._number or part != self._next:
                self._len = -1
                self.release()
                return number, None, "incomplete"
            n = len(payload) - PART_HEADER
            if self._view is None or self._len + n > len(self._view):
                self._len = -1
                self.release()
                return number, None, "too_long"
            self._view[self._len : self._len + n] = payload[PART_HEADER:]
            self._len += n
            self._next = part + 1
            if part + 1 < parts:
                continue
            size, self._len = self._len, -1
            return self._request(number, self._view, size)

    def _request(self, number, view, size):
        # (number, request, attachment) of the whole message in view[:size].
        import json

        if size < 2:
            return number, None, "format"
        length = view[0] << 8 | view[1]
        if 2 + length > size:
            return number, None, "format"
        try:
            request = json.loads(bytes(view[2 : 2 + length]))
        except ValueError:
            return number, None, "format"
        if not isinstance(request, dict):
            return number, None, "format"
        return number, request, view[2 + length : size]

    def answer(self, number, answer):
        """Send `answer` (a dict) as the answer to request `number`, in as many parts as it
        takes; LinkError if the host stops acknowledging."""
        import json

        data = json.dumps(answer).encode()
        answer = None
        view = memoryview(data)
        parts = max(1, (len(data) + PART_DATA - 1) // PART_DATA)
        part = self._part
        part[0] = ANSWER
        part[1] = number
        part[3] = parts
        for i in range(parts):
            chunk = view[i * PART_DATA : (i + 1) * PART_DATA]
            part[2] = i
            self._partv[PART_HEADER : PART_HEADER + len(chunk)] = chunk
            self.link.send(self._partv[: PART_HEADER + len(chunk)])


def _show(term, line):
    term.ui.show(TITLE, (line, _LEAVE))


def serve(term, link=None, quiet_ms=QUIET_MS, first=b""):
    """Serve the host on the console (or on `link`, a ConsoleLink: the tests') until it
    leaves, resets, falls silent for `quiet_ms`, CANCEL is pressed or the link fails.
    Returns "leave", "reset", "quiet", "cancel" or "link". `first`: bytes already read
    off the console."""
    import micropython

    from app import hostcmd
    from app.comm.console import ConsoleStream
    from app.comm.consolelink import ConsoleLink, LinkError
    from app.ui import forget
    from drivers import keypad as kp

    ui = term.ui
    _show(term, _WAITING)
    micropython.kbd_intr(-1)
    if link is None:
        link = ConsoleLink(ConsoleStream(first))
    messages = Messages(link)
    commands = hostcmd.Commands(term)
    # Modules a request may import that the application had not: let go after each one.
    transient = []
    for name in _TRANSIENT.split():
        if name not in sys.modules:
            transient.append(name)
    outcome = "quiet"
    quiet = 0
    gc.collect()
    try:
        link.start()
        while True:
            got = messages.receive(_SLICE_MS)
            if got is None:
                quiet += _SLICE_MS
                if quiet >= quiet_ms:
                    break
                if ui.keypad.get(0) == kp.CANCEL:
                    outcome = "cancel"
                    break
                continue
            quiet = 0
            number, request, rest = got
            if request is None:
                answer = hostcmd.refused(rest)
                cmd = None
            else:
                cmd = request.get("cmd")
                _show(term, _BUSY)
                answer = commands.handle(request, rest)
            request = rest = got = None
            messages.release()
            messages.answer(number, answer)
            answer = None
            for name in transient:
                forget(name)
            gc.collect()
            if cmd == "leave" or cmd == "reset":
                outcome = cmd
                break
            _show(term, _WAITING)
    except LinkError:
        outcome = "link"
    finally:
        terminal = term.terminal_params()
        if terminal is None or not terminal["lockdown"]:
            micropython.kbd_intr(3)
        terminal = None
        ui.keypad.flush()
    return outcome


def restart():
    """Restart the terminal: a hard reset on the ESP32; elsewhere SystemExit, which the
    virtual terminal takes as a soft reset."""
    try:
        import machine

        machine.reset()  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        pass
    raise SystemExit


def board_module():
    """The board this firmware runs on, as device/main.py picks it."""
    if sys.platform == "esp32":
        from board import esp32_ref as board

        try:
            board.mount_flash()
        except OSError:
            pass  # mounted already (the application ran before the REPL took over)
        return board
    from board import unix_sim as board

    return board


def run(board=None, quiet_ms=QUIET_MS):
    """Host-link mode from the REPL: the terminal made on `board` (default: this firmware's),
    served until the host leaves (its tool then soft-resets the terminal into its
    application); restarted if the host asked for a reset; and if the host went away without
    leaving (silent, the link failed) or CANCEL was pressed, the application started here."""
    from app.ui import forget
    from app.ui.terminal import Terminal

    # What the application stopped by Ctrl-C left loaded and the mode does not use.
    forget("app.ui.idle", "app.ui.admin", "app.ui.batch", "app.ui.payments")
    gc.collect()
    board = board or board_module()
    term = Terminal(board)
    gc.collect()
    outcome = serve(term, quiet_ms=quiet_ms)
    if outcome == "reset":
        restart()
    if outcome == "leave":
        return
    term = None
    forget("app.hostcmd")
    gc.collect()
    from app.ui import terminal

    terminal.run(board)
