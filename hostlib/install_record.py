"""The install record: what `poskit install` leaves for the register and the merchant's file,
as JSON (for programs) and as one self-contained HTML page (for people, readable printed).

    record = new_record(job, installer="wang.li", port="/dev/ttyUSB0")
    ... the runner fills record["terminal"], record["applications"][...]["tests"] ...
    paths = write(record, Path("installs/SH-2024-0815-07"), screens={"app1-sale": png})

The record holds what was *read back from the terminal*, never what the job asked for alone:
the terminal's serial, chip id, versions, parameter versions and key check values come from
its identify answer after the install, and each test transaction's STAN, RRN, response code
and slip from the terminal's own result. Check values only: a key, a PIN or a full track never
reaches the record (the slips mask the card number as printed).

The HTML page has no outside references (styles inline, pictures as data: addresses), so it
can be mailed, archived or printed as it is.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import os
from pathlib import Path

FORMAT = "poskit-install-record/1"
JSON_NAME = "install.json"
HTML_NAME = "install.html"

# Test transaction kinds, in the order of the operator's procedure, with their names.
TEST_NAMES = {
    "sign_on": "sign-on 签到",
    "sale": "0.01 sale 消费",
    "sale_void": "0.01 void 消费撤销",
    "settlement": "settlement 结算",
}


def now() -> str:
    """The time now, UTC, to the second, as the record writes times."""
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()


def new_record(job, *, installer: str, port: str, job_sha256: str = "") -> dict:
    """An empty record for `job` (a hostlib.jobs.Job): the job's identity and merchant, who
    installs, through which port; the runner fills the rest as the steps are done."""
    return {
        "format": FORMAT,
        "status": "incomplete",
        "job": {
            "file": str(job.path),
            "sha256": job_sha256,
            "reference": job.reference,
            "serial": job.serial,
            "version": job.version,
        },
        "merchant": _plain(job.merchant),
        "installer": installer,
        "port": port,
        "started": now(),
        "finished": None,
        "terminal": {},
        "deploy": None,
        "onsite": None,
        "applications": [
            {
                "index": index,
                "name": values.get("name"),
                "expected": {
                    "merchant_id": values.get("merchant_id"),
                    "terminal_id": values.get("terminal_id"),
                    "merchant_name": values.get("merchant_name"),
                    "bearer": values.get("bearer") or job.terminal.get("bearer"),
                },
                "tests": [],
                "slip_check": None,
                "screen": None,
            }
            for index, values in sorted(job.applications.items())
        ],
        "screen_note": None,
        "steps": [],
    }


def _plain(values: dict) -> dict:
    # TOML dates are datetime objects; the record is JSON.
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items()}


def application(record: dict, index: int) -> dict:
    """The record's entry for application `index`."""
    for app in record["applications"]:
        if app["index"] == index:
            return app
    raise KeyError(index)


# The letter after the card number on a slip (app.txn.receipt): how the card was read.
CARD_ENTRY = {"I": "chip", "S": "swipe", "C": "contactless", "M": "keyed"}


def card_entry(slips) -> str | None:
    """How the card of a transaction was read ("chip", "swipe", "contactless", "keyed"), from
    the CARD NO line of its first slip; None without one."""
    for slip in slips or ():
        for line in slip:
            if line.startswith("CARD NO:"):
                return CARD_ENTRY.get(line.rstrip().rpartition(" ")[2])
    return None


def test_entry(kind: str, result: dict) -> dict:
    """A test transaction as the record keeps it, from a terminal's txn() result."""
    return {
        "kind": kind,
        "card": card_entry(result.get("slips")) if kind == "sale" else None,
        "approved": bool(result.get("approved")),
        "stan": result.get("stan"),
        "batch": result.get("batch"),
        "rrn": result.get("rrn"),
        "auth_code": result.get("auth_code"),
        "response_code": result.get("response_code"),
        "error": result.get("error"),
        "message": result.get("message_en"),
        "amount": result.get("amount"),
        "date": result.get("date"),
        "time": result.get("time"),
        "slips": [list(slip) for slip in result.get("slips") or ()],
    }


def write(record: dict, folder: Path, screens: dict[str, bytes] | None = None) -> dict:
    """Write FOLDER/install.json, FOLDER/install.html, every slip as FOLDER/slips/*.txt and
    every screen picture as FOLDER/<name>.png (each replaced whole); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    slips = folder / "slips"
    for app in record["applications"]:
        for test in app["tests"]:
            for number, slip in enumerate(test["slips"], 1):
                slips.mkdir(exist_ok=True)
                name = "app%d-%s-%d.txt" % (app["index"], test["kind"], number)
                paths[name] = _replace(slips / name, ("\n".join(slip) + "\n").encode())
    pictures = {}
    for name, png in (screens or {}).items():
        paths[name] = _replace(folder / (name + ".png"), png)
        pictures[name] = png
    paths["json"] = _replace(
        folder / JSON_NAME, (json.dumps(record, ensure_ascii=False, indent=2) + "\n").encode()
    )
    paths["html"] = _replace(folder / HTML_NAME, render_html(record, pictures).encode())
    return paths


def _replace(path: Path, data: bytes) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


_STYLE = """
body { font-family: sans-serif; font-size: 11pt; margin: 2em; color: #000; }
h1 { font-size: 16pt; margin-bottom: 0.2em; }
h2 { font-size: 13pt; border-bottom: 1px solid #888; margin-top: 1.5em; }
h3 { font-size: 11pt; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #aaa; padding: 2px 8px; text-align: left; vertical-align: top; }
th { background: #eee; }
.status { font-weight: bold; padding: 2px 8px; }
.complete { background: #d8f0d8; } .incomplete, .failed { background: #f8d8d8; }
.slips { display: flex; flex-wrap: wrap; gap: 1em; }
pre.slip { font-family: monospace; font-size: 9pt; border: 1px dashed #888; padding: 0.5em;
  margin: 0; white-space: pre; page-break-inside: avoid; break-inside: avoid; }
figure { display: inline-block; margin: 0 1em 1em 0; page-break-inside: avoid; }
img.screen { image-rendering: pixelated; border: 1px solid #444; width: 256px; }
@media print { body { margin: 0; } h2 { page-break-after: avoid; } }
"""


def render_html(record: dict, pictures: dict[str, bytes] | None = None) -> str:
    """The record as one HTML page, its pictures inlined; every value escaped."""
    pictures = pictures or {}
    e = _escape
    job = record["job"]
    terminal = record.get("terminal") or {}
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        "<title>Install record %s %s</title>" % (e(terminal.get("serial")), e(job["reference"])),
        "<style>%s</style></head><body>" % _STYLE,
        "<h1>Install record 安装记录: terminal %s</h1>" % e(terminal.get("serial") or "?"),
        '<p><span class="status %s">%s</span> work order %s, job %s version %s</p>'
        % (
            e(record["status"]),
            e(record["status"].upper()),
            e(job["reference"]),
            e(job["file"]),
            e(job["version"]),
        ),
        _table(
            [
                ("installed by", record["installer"]),
                ("started", record["started"]),
                ("finished", record["finished"] or "not finished"),
                ("port", record["port"]),
            ]
        ),
    ]
    if record.get("merchant"):
        out.append("<h2>Merchant 商户</h2>")
        out.append(_table(list(record["merchant"].items())))
    out.append("<h2>Terminal 终端</h2>")
    out.append(
        _table(
            [
                ("serial", terminal.get("serial")),
                ("chip id", terminal.get("chip_id")),
                ("model", terminal.get("model")),
                ("firmware (MicroPython)", terminal.get("micropython")),
                ("application build", terminal.get("app_build")),
                ("locked down", terminal.get("lockdown")),
                ("terminal parameters version", terminal.get("terminal_params_version")),
                ("SIM ICCID", terminal.get("iccid") or "no GPRS module"),
                ("signal at the spot chosen", _signal(terminal.get("signal"))),
                ("PIN pad serial", terminal.get("pinpad_serial") or "no external PIN pad"),
                (
                    "IC sets: CA keys; AID parameters; black list; contactless",
                    _ic_sets(terminal.get("ic_sets")),
                ),
            ]
        )
    )
    kcvs = terminal.get("key_check_values") or {}
    if kcvs:
        out.append("<h3>Key check values 密钥校验值</h3>")
        out.append(_table(sorted(kcvs.items()), head=("slot", "check value")))
    if record.get("deploy"):
        out.append("<h3>Application deployed</h3>")
        out.append(_table(sorted(record["deploy"].items())))
    if record.get("onsite"):
        out.append("<h3>On-site settings 现场设置</h3>")
        out.append(_table(sorted(record["onsite"].items())))
    for app in record["applications"]:
        out.extend(_application_html(app, pictures))
    if record.get("screen_note"):
        out.append("<p><em>%s</em></p>" % e(record["screen_note"]))
    out.append("<h2>Steps 步骤</h2>")
    out.append(
        _table(
            [
                (step["name"], step["status"], step.get("at", ""), step.get("note", ""))
                for step in record["steps"]
            ],
            head=("step", "status", "at", "note"),
        )
    )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _application_html(app: dict, pictures: dict[str, bytes]) -> list[str]:
    e = _escape
    held = app.get("terminal") or {}
    out = [
        "<h2>Application %d: %s</h2>" % (app["index"], e(app.get("name"))),
        _table(
            [
                ("merchant id 商户号", held.get("merchant_id", app["expected"]["merchant_id"])),
                ("terminal id 终端号", held.get("terminal_id", app["expected"]["terminal_id"])),
                (
                    "merchant name 商户名",
                    held.get("merchant_name", app["expected"]["merchant_name"]),
                ),
                ("parameters version", held.get("params_version")),
                ("bearer (job)", app["expected"].get("bearer")),
                ("bearer (terminal)", held.get("bearer")),
                ("slip check (MID, TID, name)", _slip_check(app.get("slip_check"))),
            ]
        ),
    ]
    if app["tests"]:
        out.append(
            _table(
                [
                    (
                        TEST_NAMES.get(t["kind"], t["kind"])
                        + (", by %s" % t["card"] if t.get("card") else ""),
                        "approved" if t["approved"] else "FAILED",
                        "%06d" % t["stan"] if isinstance(t["stan"], int) else t["stan"],
                        t["rrn"],
                        t["response_code"] or t["error"],
                        t["auth_code"],
                    )
                    for t in app["tests"]
                ],
                head=("test", "result", "STAN", "RRN", "response", "auth code"),
            )
        )
    slips = [(t, slip) for t in app["tests"] for slip in t["slips"]]
    if slips:
        out.append("<h3>Slips 签购单</h3>")
        out.append('<div class="slips">')
        for _test, slip in slips:
            out.append('<pre class="slip">%s</pre>' % e("\n".join(slip)))
        out.append("</div>")
    name = app.get("screen")
    if name and name in pictures:
        data = base64.b64encode(pictures[name]).decode()
        out.append(
            '<figure><img class="screen" alt="the terminal\'s screen" '
            'src="data:image/png;base64,%s"><figcaption>the screen after the sale'
            "</figcaption></figure>" % data
        )
    return out


def _ic_sets(sets) -> str:
    """The sets the host downloaded at sign-on, as identify reports them: count and check
    value of the CA keys, AID parameters, black list and contactless parameters ("5 750046DB;
    3 29F3CB09; none; 1 0C1D2E3F"), "none" where the terminal has none."""
    if not sets:
        return "-"
    return "; ".join(
        "%d %s" % tuple(sets[kind]) if sets.get(kind) else "none"
        for kind in ("capk", "aid", "black", "ctls")
    )


def _slip_check(check) -> str:
    if check is None:
        return "not done"
    if check.get("ok"):
        return "matches the job"
    return "; ".join(check.get("problems") or ["does not match"])


def _signal(signal) -> str:
    if signal is None:
        return "not measured"
    if isinstance(signal, dict):
        return ", ".join("%s %s" % item for item in sorted(signal.items()))
    return str(signal)


def _table(rows, head=None) -> str:
    e = _escape
    out = ["<table>"]
    if head:
        out.append("<tr>%s</tr>" % "".join("<th>%s</th>" % e(h) for h in head))
    for row in rows:
        cells = list(row)
        if head is None and len(cells) == 2:
            out.append("<tr><th>%s</th><td>%s</td></tr>" % (e(cells[0]), e(cells[1])))
        else:
            out.append("<tr>%s</tr>" % "".join("<td>%s</td>" % e(c) for c in cells))
    out.append("</table>")
    return "".join(out)


def _escape(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return html.escape(str(value))
