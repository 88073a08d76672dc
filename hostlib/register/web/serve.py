"""`poskit register serve`: the back-office web app on a port, served by waitress.

    key = secret_key("sqlite:////srv/poskit/register.db")   # made once, kept beside the file
    serve("sqlite:////srv/poskit/register.db", host="127.0.0.1", port=8080)

The session cookies are signed with a secret key that must outlive a restart (else every
restart logs everybody out) and must never be guessed (else a login can be forged). It is
$POSKIT_REGISTER_SECRET when set; otherwise, for a SQLite register, a file beside it
(`register.db.secret`), made on the first start with 32 random bytes and readable by its owner
only. A key file that others can read is refused: whoever reads it can log in as anyone. A
PostgreSQL register has no file of its own to sit beside: its key comes from the environment.
"""

from __future__ import annotations

import argparse
import os
import secrets
import stat
from pathlib import Path

from hostlib.errors import PoskitError

HELP = "serve the register's back-office web app (logins, pipeline, forms, work orders)"
SECRET_ENV = "POSKIT_REGISTER_SECRET"
SECRET_SUFFIX = ".secret"
_MIN_SECRET = 16  # characters: shorter is a password, not a key


def secret_key(url: str) -> str:
    """The key that signs the web app's session cookies for the register at `url`."""
    from_env = os.environ.get(SECRET_ENV)
    if from_env is not None:
        if len(from_env) < _MIN_SECRET:
            raise PoskitError(
                "$%s is %d characters: give at least %d random ones (for example "
                "`python3 -c 'import secrets; print(secrets.token_hex(32))'`)"
                % (SECRET_ENV, len(from_env), _MIN_SECRET)
            )
        return from_env
    path = _sqlite_path(url)
    if path is None:
        raise PoskitError(
            "this register is not a SQLite file, so there is no place beside it for the web "
            "app's secret key: set $%s to a long random string, the same at every start "
            "(for example `python3 -c 'import secrets; print(secrets.token_hex(32))'`)"
            % SECRET_ENV
        )
    return _key_file(Path(str(path) + SECRET_SUFFIX))


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite register's URL; None for another database or an in-memory one."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


def _key_file(path: Path) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    except OSError as exc:
        message = "cannot make the web app's key file %s: %s" % (path, exc.strerror)
        raise PoskitError(message) from None
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    return _read_key_file(path)


def _read_key_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise PoskitError(
                "the web app's key file %s can be read by others (mode %o): "
                "`chmod 600 %s`, then change every password if you cannot tell who read it"
                % (path, stat.S_IMODE(mode), path)
            )
        key = path.read_text().strip()
    except OSError as exc:
        message = "cannot read the web app's key file %s: %s" % (path, exc.strerror)
        raise PoskitError(message) from None
    if len(key) < _MIN_SECRET:
        raise PoskitError(
            "the web app's key file %s holds no key: remove it, and a new one is made "
            "(everybody logs in again)" % path
        )
    return key


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`poskit register serve`'s options (--db is the register command's own)."""
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this computer only; 0.0.0.0: the "
        "back office's network)",
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")


def run(args: argparse.Namespace) -> int:
    """`poskit register serve`: until Ctrl-C."""
    from hostlib.register import db

    serve(args.db or db.default_url(), host=args.host, port=args.port)
    return 0


def serve(url: str, *, host: str = "127.0.0.1", port: int = 8080, threads: int = 4) -> None:
    """Open the register at `url` and serve its web app until Ctrl-C."""
    import waitress

    from hostlib.register import db
    from hostlib.register.web.app import create_app

    register = db.open(url)
    app = create_app(register, secret_key=secret_key(url))
    try:
        server = waitress.create_server(app, host=host, port=port, threads=threads)
    except OSError as exc:
        raise PoskitError("cannot listen on %s port %d: %s" % (host, port, exc.strerror)) from None
    print("poskit register: the back office on http://%s:%d/ (Ctrl-C stops it)" % (host, port))
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            "poskit register: plain HTTP on the network: keep it on the back office's own "
            "network, or put a TLS proxy in front (docs/register.md)"
        )
    try:
        server.run()
    except KeyboardInterrupt:
        print("poskit register: stopped")
    finally:
        server.close()
        register.close()
