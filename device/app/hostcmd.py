"""The commands the installer's tools send in host-link mode (app.hostlink; docs/link.md,
"Commands", has every request and answer).

    commands = Commands(term)                  # one per host-link session
    answer = commands.handle(request, attachment)   # dicts: {"cmd": ...} -> {"ok": ...}

identify, provision, wipe_challenge / wipe, load (a parameter or key packet, verified and
applied whole, then read back), onsite (the installer's dial-up line and outside-line prefix),
txn (the requests of app.txn.link; with "card": "reader" a sale goes through the cashier's
own steps: the card on the terminal's reader, the PIN on its PIN pad or keypad, its screens
and slips), journal (the batch's summary), slips (the last transactions' slips), leave and
reset. Every refusal is {"ok": false, "error": words, "reason": a word}; nothing is changed
by a refused command.

Secrets: the provisioning keys arrive in the attachment, never in the JSON; answers carry
check values, never a key, a PIN, a PIN block or a full track.
"""

import gc
import sys
from binascii import hexlify

_HOST_IDLE_MS = 3000  # a result screen's time for a transaction the host started


def refused(reason, error=None):
    """The answer to a request refused with `reason` (a word) and `error` (words)."""
    if error is None:
        error = {
            "incomplete": "the request arrived incomplete: send it again",
            "too_long": "the request is longer than the terminal takes",
            "format": "the request is not a JSON object after its length",
        }.get(reason, reason)
    return {"ok": False, "reason": reason, "error": error}


def _hex(data):
    return hexlify(data).decode().upper()


def _text(value):
    # A parameter text as the host reads it: str as it is, GB18030 bytes as hex.
    if isinstance(value, (bytes, bytearray)):
        return {"gb18030": hexlify(value).decode()}
    return value


def chip_id(term):
    """The chip's unique id (the ESP32's MAC-based id), as hex; on the virtual terminal, a
    digest standing in for it (its storage key's SHA-256, first 6 bytes: the key is never
    shown)."""
    try:
        import machine

        return _hex(machine.unique_id())  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        pass
    import hashlib

    if term.storage_key is None:
        return None
    return "VT" + _hex(hashlib.sha256(b"chip id" + term.storage_key).digest()[:6])


def app_build():
    """The build the terminal runs: the deploy manifest's (deploy.json in the working
    directory), else the hash of the application image (the version screen's)."""
    import json

    for path in ("deploy.json", "/flash/deploy.json"):
        try:
            with open(path) as f:
                build = json.load(f).get("build")
            if build:
                return build
        except (OSError, ValueError, AttributeError):
            pass
    from app.ui.admin_version import image_hash

    return image_hash()


class Commands:
    """See the module docstring. Keeps a session's state: the wipe challenge."""

    def __init__(self, term):
        self.term = term
        self._identity = None

    def identity(self):
        from app.keys.identity import Identity

        if self.term.storage_key is None:
            raise ValueError("the terminal has no storage key: it cannot hold an identity")
        if self._identity is None:
            self._identity = Identity(self.term.store, self.term.storage_key)
        return self._identity

    def handle(self, request, attachment):
        """The answer (a dict) to `request` (a dict with "cmd") and its attachment."""
        cmd = request.get("cmd")
        gc.collect()
        try:
            if cmd == "identify":
                answer = self.identify()
            elif cmd == "provision":
                answer = self.provision(request, attachment)
            elif cmd == "wipe_challenge":
                answer = self.wipe_challenge()
            elif cmd == "wipe":
                answer = self.wipe(request)
            elif cmd == "load":
                answer = self.load(attachment)
            elif cmd == "onsite":
                answer = self.onsite(request)
            elif cmd == "txn":
                answer = self.txn(request.get("request") or {})
            elif cmd == "journal":
                answer = self.journal(request.get("app", 1))
            elif cmd == "slips":
                answer = self.slips(request.get("app", 1), request.get("count", 1))
            elif cmd == "leave" or cmd == "reset":
                answer = {"ok": True}
            else:
                return refused("command", "no such command: %s" % cmd)
        except MemoryError:
            gc.collect()
            return refused("memory", "the terminal ran out of memory")
        except (ValueError, OSError, KeyError, TypeError) as exc:
            return refused(getattr(exc, "reason", None) or "refused", str(exc))
        answer["ok"] = True
        return answer

    # --- identify ---------------------------------------------------------------------------

    def identify(self):
        from app.keys.slots import KeyStore
        from app.store.packet import KEYS, PARAMETERS, Versions
        from app.ui.admin_version import VERSION

        term = self.term
        terminal = term.terminal_params()
        versions = Versions(term.store)
        out = {
            "serial": None,
            "chip_id": chip_id(term),
            "model": getattr(term.board, "MODEL", None)
            or ("ESP32 reference" if sys.platform == "esp32" else "virtual terminal"),
            "micropython": "%d.%d.%d" % sys.implementation.version[:3],
            "app_version": VERSION,
            "app_build": app_build(),
            "lockdown": bool(terminal is not None and terminal["lockdown"]),
            "terminal_params_version": versions.get(PARAMETERS, 0),
            "bearer": terminal["bearer"] if terminal is not None else None,
            "applications": [],
            "key_check_values": {},
            "iccid": None,
            "signal": None,
            "pinpad_serial": None,
        }
        checks = out["key_check_values"]
        if term.storage_key is not None:
            identity = self.identity()
            out["serial"] = identity.serial()
            if out["serial"] is not None:
                checks["KBPK"], checks["link key"] = _identity_checks(identity)
        term.changed()  # the applications as stored now
        keys = KeyStore(term.store, term.storage_key) if term.storage_key else None
        for index, name in term.applications():
            params = term.app_params(index)
            out["applications"].append(
                {
                    "index": index,
                    "name": name,
                    "merchant_id": params["merchant_id"],
                    "terminal_id": params["terminal_id"],
                    "merchant_name": _text(params["merchant_name"]),
                    "params_version": versions.get(PARAMETERS, index),
                    "keys_version": versions.get(KEYS, index),
                    "bearer": _bearer_of(term, index),
                }
            )
            params = None
            if keys is not None:
                for usage, slot, algorithm, kcv in keys.kcv_table(index):
                    if usage == "TMK":
                        label = "app%d TMK %02d %s" % (index, slot, algorithm)
                    else:
                        label = "app%d %s" % (index, usage)
                    checks[label] = kcv[:6]
        terminal = None
        out["ic_sets"] = _ic_sets(term.store)
        self._devices(out)
        gc.collect()
        out["heap_free"] = gc.mem_free()  # for the install record: what the mode leaves
        return out

    def _devices(self, out):
        # The SIM and the PIN pad, where fitted; a device that does not answer is left None.
        term = self.term
        gprs = [a["index"] for a in out["applications"] if a["bearer"] == "gprs"]
        if out["bearer"] == "gprs" or gprs:
            try:
                module = term.make_bearer(gprs[0] if gprs else 0).module
                out["iccid"] = module.iccid()
                out["signal"] = module.signal()[0]
            except (OSError, ValueError, AttributeError):
                pass
        pad = term.pinpad()
        if pad is not None:
            try:
                out["pinpad_serial"] = pad.serial_number()
            except (OSError, ValueError):
                pass

    # --- provisioning -----------------------------------------------------------------------

    def provision(self, request, attachment):
        """Serial in the request; the KBPK and the link key in the attachment (its first
        `kbpk_length` bytes, then 32): never in the JSON, wiped once sealed."""
        n = request.get("kbpk_length", 16)
        if len(attachment) != n + 32:
            raise ValueError("the keys are %d bytes, expected %d" % (len(attachment), n + 32))
        identity = self.identity()
        try:
            identity.provision(request.get("serial") or "", attachment[:n], attachment[n:])
        finally:
            for i in range(len(attachment)):
                attachment[i] = 0
        kbpk, link = _identity_checks(identity)
        return {"serial": identity.serial(), "kbpk_kcv": kbpk, "link_check": link}

    def wipe_challenge(self):
        return {"ok": True, "challenge": hexlify(self.identity().wipe_challenge()).decode()}

    def wipe(self, request):
        from binascii import unhexlify

        from app.store import journal

        journals = journal.stored(self.term.store)
        serial = self.identity().serial()
        done = self.identity().wipe(unhexlify(request.get("token") or ""), journals)
        self.term.changed()
        return {"serial": serial, "wiped": done}

    # --- packets ----------------------------------------------------------------------------

    def load(self, data):
        """Verify the packet in `data` and apply it whole (app.store.packet), then read back
        what the terminal now holds for what it carried."""
        from app.keys.slots import KeyStore
        from app.store import packet
        from app.store.params import ParamStore

        term = self.term
        term.changed()  # the engine and its keys go: the packet may change them
        identity = self.identity()
        serial = identity.serial()
        if serial is None:
            raise ValueError("terminal is not provisioned (poskit provision first)")
        versions = packet.Versions(term.store)
        p = packet.verify(data, serial, identity.link_key(), versions)
        loaded = None
        if p.kind == packet.PARAMETERS:
            packet.apply_parameters(p, ParamStore(term.store), versions)
        else:
            keys = KeyStore(term.store, term.storage_key)
            loaded = packet.apply_keys(p, keys, identity.kbpk(), versions)
        term.changed()
        out = self.read_back(p.kind, p.app_index)
        if loaded is not None:
            out["loaded"] = [list(row) for row in loaded]  # (slot, algorithm, KCV)
        return out

    def read_back(self, kind, index):
        """What the terminal holds for packet kind `kind` of application `index`, read again
        from flash: the version, and the parameters' count or the keys' check values."""
        from app.keys.slots import KeyStore
        from app.store import packet
        from app.store.params import ParamStore

        term = self.term
        out = {
            "kind": "parameters" if kind == packet.PARAMETERS else "keys",
            "app": index,
            "version": packet.Versions(term.store).get(kind, index),
        }
        if kind == packet.PARAMETERS:
            params = ParamStore(term.store).load(index)
            out["stored_version"] = ParamStore(term.store).version(index)
            out["values"] = len(params.items()) if params is not None else 0
        else:
            rows = []
            for usage, slot, algorithm, kcv in KeyStore(term.store, term.storage_key).kcv_table(
                index
            ):
                if usage == "TMK":
                    rows.append([slot, algorithm, kcv])
            out["keys"] = rows
        return out

    def onsite(self, request):
        """The installer's on-site settings: the dial-up line ("direct" or "extension") and
        the outside-line prefix, kept as on-site edits (the version screen marks them)."""
        from app.store import edits

        term = self.term
        params = term.terminal_params()
        if params is None:
            raise ValueError("the terminal has no parameters: load them first")
        names = []
        if request.get("line") is not None:
            params.set("dialup.line", request["line"])
            names.append("dialup.line")
        if request.get("prefix") is not None:
            params.set("dialup.prefix", request["prefix"])
            names.append("dialup.prefix")
        if names:
            edits.save(term.store, 0, params, names)
            term.changed()
        params = term.terminal_params()
        return {"line": params["dialup.line"], "prefix": params["dialup.prefix"]}

    # --- transactions -----------------------------------------------------------------------

    def txn(self, r):
        """A request of app.txn.link, run by the terminal's own Terminal.run (its screens,
        the operator, the PIN pad's key after a sign-on); with "card": "reader", a sale
        through the cashier's steps (app.ui.cashier.sale)."""
        from app.txn import link

        term = self.term
        kind = r.get("kind")
        app = r.get("app", 1)
        if term.app_params(app) is None:
            raise ValueError("application %d has no parameters" % app)
        if r.get("card") == "reader":
            if kind != "sale":
                raise ValueError("the terminal's own reader is for a sale, not %s" % kind)
            result = self._sale(app, r.get("amount"))
        elif kind == "reprint":
            out, lines = link.reprint(term.engine(app), r)
            out["slips"] = [_lines(lines)] if lines else []
            return out
        else:
            try:
                request = link.request(r)
            except ValueError as exc:
                out = link.input_error(kind, exc)
                out["slips"] = []
                return out
            result = term.run(app, request)
            request = None
            term.show_result(term._title, result, wait_ms=_HOST_IDLE_MS)
        engine = term.engine(app)
        out = link.fields(engine, result)
        out["slips"] = self._copies(engine, result)
        return out

    def _sale(self, app, amount):
        from app.ui import cashier
        from app.ui.screen import Cancelled, Idle

        term = self.term
        if not isinstance(amount, int) or amount <= 0:
            raise ValueError("a sale needs an amount in fen above 0")
        limit = term.app_params(app)["max_amount"]
        if limit and amount > int(limit) * 100:
            raise ValueError("amount above the application's max_amount")
        try:
            return cashier.sale(term, amount=amount, app=app)
        except (Cancelled, Idle):
            raise ValueError("the sale was cancelled at the terminal (CANCEL, or no card)")

    def _copies(self, engine, result):
        # The merchant copy (the result's) and the others the parameters print.
        lines = result.receipt_lines
        if not lines:
            return []
        slips = [_lines(lines)]
        terminal = self.term.terminal_params()
        copies = (terminal["receipt_copies"] if terminal is not None else 0) or 1
        terminal = None
        for copy in ("cardholder", "bank")[: max(0, copies - 1)]:
            more = engine.receipt(result.stan, copy, False) if result.stan else None
            if more:
                slips.append(_lines(more))
        return slips

    # --- the journal ------------------------------------------------------------------------

    def journal(self, app):
        """The current batch: its number, the totals, the transactions by state, the last
        one, and what waits to be sent again."""
        engine = self.term.engine(app)
        debit, debit_count, credit, credit_count = engine.totals()
        states = {}
        last = None
        count = 0
        for entry in engine.journal.entries(engine.batch):
            count += 1
            key = "%s %s" % (entry.name, entry.status)
            states[key] = states.get(key, 0) + 1
            last = {
                "stan": entry.stan,
                "kind": entry.name,
                "amount": entry.amount,
                "card": entry.pan_masked,
                "date": entry.date,
                "status": entry.status,
            }
        try:
            reversal, advice = engine.pending_reversal(), engine.pending_advice()
        except ValueError:
            reversal = advice = None
        return {
            "app": app,
            "batch": engine.batch,
            "transactions": count,
            "by_state": states,
            "debit": [debit_count, debit],
            "credit": [credit_count, credit],
            "last": last,
            "pending_reversal": reversal,
            "pending_advice": advice,
            "next_stan": engine.stan,
        }

    def slips(self, app, count):
        """The slips (merchant copy, marked as a reprint) of the last `count` transactions
        of the current batch, oldest first."""
        engine = self.term.engine(app)
        stans = []
        for entry in engine.journal.entries(engine.batch):
            stans.append(entry.stan)
            if len(stans) > count:
                stans.pop(0)
        out = []
        for stan in stans:
            lines = engine.receipt(stan, "merchant", True)
            if lines:
                out.append(_lines(lines))
        return {"app": app, "slips": out}


def _lines(lines):
    # Slip lines as hex of their GB18030 bytes (the host decodes them).
    out = []
    for line in lines:
        out.append(hexlify(line).decode())
    return out


def _bearer_of(term, app):
    # The kind of bearer application `app`'s requests go over (its own, else the terminal's);
    # None while the terminal has no parameters to say.
    try:
        return term.bearer_of(app)
    except ValueError:
        return None


def _ic_sets(store):
    # The sets the host downloaded (app.store.icsets): {"capk": [count, check] or None,
    # "aid", "black" (the black list), "ctls" (contactless parameters)}, for the install record.
    from app.store.icsets import AID, BLACKLIST, CAPK, CONTACTLESS, ICSets

    sets = ICSets(store.root)
    out = {}
    for kind, name in ((CAPK, "capk"), (AID, "aid"), (BLACKLIST, "black"), (CONTACTLESS, "ctls")):
        summary = sets.summary(kind)
        out[name] = None if summary is None else [summary[0], summary[1]]
    return out


def _identity_checks(identity):
    """(KBPK check value, link key check): what `poskit provision` prints on the host."""
    from app.crypto import cipher
    from app.crypto.mac import hmac_sha256

    kbpk = identity.kbpk()
    try:
        kcv = _hex(cipher.kcv("AES", kbpk, 3))
    except ValueError:
        kcv = None
    return kcv, _hex(hmac_sha256(identity.link_key(), b"check")[:3])
