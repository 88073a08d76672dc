"""The transaction engine driven by JSON lines: what `poskit txn` runs on the virtual terminal,
and what the installer's link will run on a real one (one request a line in, one result out).

    serve(store, storage_key, stream_in, write, board)

The first line configures: {"app": 1, "host": "127.0.0.1", "port": 5000, "timeout_ms": 3000}.
With a host, the engine talks plain TCP to it, whatever the terminal's bearer; without one,
it uses the bearer the terminal's parameters select (app.comm.bearers: dial-up, GPRS or Ethernet,
on the devices `board` makes). Then one request per line:

    {"kind": "sale", "amount": 1, "track2": "...", "pin": "123456"}
    {"kind": "sale_void", "trace": 2, "supervisor": "123456"}
    {"kind": "settlement", "confirmed": true}      # an empty batch, the cashier agreed
    {"kind": "reprint", "trace": 2, "copy": "merchant"}

and for each, lines written out: "@E name value" per engine event, "@R {json}" the result,
"@L hex" per slip line (GB18030 bytes), then "@." (done). "@X text" ends the session (no
parameters, or no bearer: the board cannot make its device).
The PIN and the password arrive on the stream, never on a command line; the PIN is put in a
bytearray the engine wipes. Living in the image (not sent as source) keeps its bytecode out
of the heap.
"""

import gc
import json
from binascii import hexlify

from app.comm.frames import TcpBearer
from app.store.params import ParamStore
from app.txn.engine import Card, Engine, Request, value_of

# Result attributes reported, in this order.
_FIELDS = (
    "kind approved response_code error message_en message_zh detail stan batch rrn auth_code "
    "amount balance date time pan_masked reversal_note notes settlement"
)


def _lines(write, lines):
    for text in lines or ():
        write("@L " + hexlify(text).decode())


def request(r):
    """The engine Request of one JSON request `r` (a dict: kind, amount, track2 or pan and
    expiry, pin, trace, rrn, auth, date, supervisor, confirmed); ValueError for a card that
    cannot be read. The PIN goes into a bytearray the engine wipes."""
    card = None
    if r.get("track2") or r.get("pan"):
        card = Card(track2=r.get("track2"), pan=r.get("pan"), expiry=r.get("expiry"))
    pin = bytearray(r["pin"].encode()) if r.get("pin") else None
    password = r.get("supervisor")
    return Request(
        r["kind"],
        amount=r.get("amount"),
        card=card,
        pin=pin,
        original_stan=r.get("trace"),
        rrn=r.get("rrn"),
        auth_code=r.get("auth"),
        original_date=r.get("date"),
        supervisor_password=password and password.encode(),
        confirmed=bool(r.get("confirmed")),
    )


def fields(engine, res):
    """The result fields of `res` (an engine Result) as a dict for JSON: _FIELDS, the
    original transaction, what waits to be sent again, the next trace number."""
    out = {}
    for name in _FIELDS.split():
        out[name] = getattr(res, name)
    o = res.original
    if o is not None:
        out["original"] = {
            "stan": o.stan,
            "amount": o.amount,
            "pan": o.pan_masked,
            "date": o.date,
            "rrn": o.rrn,
            "auth_code": o.auth_code,
        }
    try:
        out["pending_reversal"] = engine.pending_reversal()
        out["pending_advice"] = engine.pending_advice()
    except ValueError:  # sealed under another storage key: the result says so, nothing sent
        out["pending_reversal"] = out["pending_advice"] = None
    out["next_stan"] = engine.stan
    return out


def reprint(engine, r):
    """(result dict, slip lines or None) of a reprint request."""
    lines = engine.receipt(r.get("trace"), r.get("copy", "merchant"), True)
    out = {"kind": "reprint", "approved": lines is not None, "error": None}
    if lines is None:
        from app.txn import respcodes

        out["error"] = "not_found"
        out["message_en"], out["message_zh"] = respcodes.terminal("not_found")
    return out, lines


def input_error(kind, exc):
    """The result of a request refused before it reached the engine (a card unreadable)."""
    return {"kind": kind, "approved": False, "error": "input", "detail": str(exc)}


def _one(engine, r, write):
    kind = r["kind"]
    if kind == "reprint":
        out, lines = reprint(engine, r)
        write("@R " + json.dumps(out))
        _lines(write, lines)
        return
    try:
        req = request(r)
    except ValueError as exc:
        write("@R " + json.dumps(input_error(kind, exc)))
        return
    res = engine.run(req)
    write("@R " + json.dumps(fields(engine, res)))
    _lines(write, res.receipt_lines)


def serve(store, storage_key, stream, write, board=None):
    """Read the configuration and the requests from `stream` (lines), answer with `write`
    (a function taking one line of text). `board` (board.esp32_ref or board.unix_sim) makes
    the terminal's bearer device when the configuration names no host."""
    conf = json.loads(stream.readline())
    app = conf.get("app", 1)
    terminal = ParamStore(store).load(0)
    if terminal is None:
        write("@X the terminal has no parameters: poskit txn init")
        return
    host = conf.get("host")
    if host is not None:
        bearer = TcpBearer(
            host,
            conf.get("port"),
            connect_ms=value_of(terminal, "connect_timeout") * 1000,
            io_ms=value_of(terminal, "send_timeout") * 1000,
        )
    elif board is None:
        write("@X no host given, and no board to make the terminal's bearer on")
        return
    else:
        from app.comm.bearers import chosen, configured

        try:
            kind = chosen(terminal, ParamStore(store).load(app))  # the application's own
            bearer = configured(terminal, board, kind)
        except (OSError, ValueError) as exc:  # no such device on this board
            write("@X %s bearer: %s" % (terminal["bearer"], exc))
            return
    terminal = None

    def event(name, value):
        write("@E %s %s" % (name, "" if value is None else value))

    try:
        engine = Engine(
            app,
            store,
            storage_key,
            bearer,
            events=event,
            receive_timeout_ms=conf.get("timeout_ms"),
        )
    except ValueError as exc:
        write("@X %s" % exc)
        return
    while True:
        line = stream.readline()
        if not line:
            break
        if not line.strip():
            continue
        gc.collect()  # between transactions, as the terminal's UI loop does
        _one(engine, json.loads(line), write)
        write("@.")
