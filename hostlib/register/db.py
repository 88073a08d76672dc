"""Opening a register, bringing its schema up to date, and the transaction every operation
runs in (with the audit trail written inside it).

    register = db.open("sqlite:///shop.db")        # refused unless at the newest schema
    with register.transaction(actor) as s:         # commits at the end, or rolls back all
        service.set_mid(s, actor, 7, "898310048161234")
    with register.session() as s:                  # reading only
        service.merchants(s, actor)
    db.upgrade("postgresql+psycopg://poskit@db.example/register")   # poskit register upgrade

The URL is a SQLAlchemy URL: `sqlite:///PATH` (a file, owner-only; its folder is made), or
`postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE` (`postgresql://` is taken as
psycopg 3). Without one: $POSKIT_REGISTER, else ~/.poskit/register.db.

The rule kept: one operation is one transaction, so a write interrupted half-way (a killed
process, a lost connection, a refused rule) leaves the register as it was; and every row the
transaction inserts, changes or deletes gets its audit row (who, when, before, after) in that
same transaction, written by the flush hook below, never by the caller.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from sqlalchemy import create_engine, event, insert, inspect
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from hostlib.register import RegisterError, models

DEFAULT_PATH = "~/.poskit/register.db"
# Never copied into the audit trail: the bytes of a document (its sha256 is), a password hash.
_NOT_AUDITED = {"data", "password_hash"}


def default_url() -> str:
    """$POSKIT_REGISTER, else the SQLite file ~/.poskit/register.db."""
    return os.environ.get("POSKIT_REGISTER") or "sqlite:///" + str(Path(DEFAULT_PATH).expanduser())


def _url(url: str | None) -> URL:
    text = url or default_url()
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise RegisterError(
            "%r is not a database URL: sqlite:///PATH or "
            "postgresql://USER:PASSWORD@HOST/DATABASE" % _shown(text)
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise RegisterError(
            "%s: the register runs on SQLite (sqlite:///PATH) or PostgreSQL "
            "(postgresql://...), not %s" % (_shown(text), parsed.drivername)
        )
    return parsed


def _shown(text: str) -> str:
    # A URL as messages show it: never its password.
    try:
        return make_url(text).render_as_string(hide_password=True)
    except ArgumentError:
        return "(the URL given)"


def engine_for(url: str | None = None) -> Engine:
    """An engine on `url` (default_url() without one); a SQLite file's folder is made, and
    SQLite enforces foreign keys, as PostgreSQL always does."""
    parsed = _url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database).expanduser()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RegisterError(
                    "cannot make the register's folder %s: %s" % (path.parent, exc.strerror)
                ) from None
            try:
                # Owner-only, as the key store is: it holds the merchants' personal details
                # and the password hashes (SQLite gives its journal the file's mode).
                os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))
            except OSError as exc:
                raise RegisterError(
                    "cannot make the register %s: %s" % (path, exc.strerror)
                ) from None
            parsed = parsed.set(database=str(path))
    try:
        engine = create_engine(parsed)
    except NoSuchModuleError as exc:
        raise RegisterError("cannot open %s: %s" % (_shown(str(parsed)), exc)) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # A second writer (the web app and a script at once) waits for the first, not fails.
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# --- schema ----------------------------------------------------------------------------------


def _alembic_config(connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("hostlib.register") / "migrations")
    )
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest schema revision this poskit knows."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config(None))
    return script.get_current_head()


def revision(engine: Engine) -> str | None:
    """The schema revision the register on `engine` is at; None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with _connected(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def at_head(url: str | None = None) -> bool:
    """True if the register at `url` has the newest schema."""
    engine = engine_for(url)
    try:
        return revision(engine) == head()
    finally:
        engine.dispose()


def upgrade(url: str | None = None) -> tuple[str | None, str]:
    """Make the register at `url` (an empty database: the whole schema) and bring it to the
    newest schema; (revision before, revision now). Each migration runs in a transaction."""
    from alembic import command

    engine = engine_for(url)
    try:
        before = revision(engine)
        with _connected(engine) as connection, connection.begin():
            command.upgrade(_alembic_config(connection), "head")
        return before, revision(engine)
    finally:
        engine.dispose()


@contextlib.contextmanager
def _connected(engine: Engine):
    try:
        with engine.connect() as connection:
            yield connection
    except DBAPIError as exc:
        raise RegisterError(
            "cannot use the register %s: %s"
            % (engine.url.render_as_string(hide_password=True), _first_line(exc))
        ) from None


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]


# --- the register ----------------------------------------------------------------------------


class Register:
    """An open register: its engine and sessions. Use `open()`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Objects stay readable after their transaction ends (the web app keeps the logged-in
        # user; the command line prints what it made).
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextlib.contextmanager
    def transaction(self, actor: models.User | None = None) -> Iterator[Session]:
        """A session whose work is committed at the end of the block, or rolled back whole
        if the block raises. The audit rows name `actor` (None: "system", for the first
        user made by `poskit register init`)."""
        with self._sessions() as s:
            s.info["actor"] = actor
            try:
                yield s
                s.commit()
            except DBAPIError as exc:
                s.rollback()
                raise RegisterError(
                    "the register refused the change: %s" % _first_line(exc)
                ) from None
            except BaseException:
                s.rollback()
                raise

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reading: whatever it changed is rolled back at the end. What it
        loaded stays readable after it (closed, not expired: a user logged in here can act
        in a transaction later)."""
        with self._sessions() as s:
            s.info["actor"] = None
            try:
                yield s
            except DBAPIError as exc:
                raise RegisterError("cannot read the register: %s" % _first_line(exc)) from None

    def close(self) -> None:
        self.engine.dispose()


def open(url: str | None = None) -> Register:  # noqa: A001 (db.open, as the contract names it)
    """The register at `url` (default_url() without one). Refused, with what to run, when it
    has no schema yet or an older one than this poskit's."""
    engine = engine_for(url)
    try:
        have = revision(engine)
        want = head()
    except BaseException:
        engine.dispose()
        raise
    if have != want:
        engine.dispose()
        shown = engine.url.render_as_string(hide_password=True)
        if have is None:
            raise RegisterError(
                "%s is not a register yet: run poskit register init (or upgrade)" % shown
            )
        raise RegisterError(
            "the register %s is at schema %s, this poskit needs %s: run poskit register "
            "upgrade" % (shown, have, want)
        )
    return Register(engine)


# --- the audit trail -------------------------------------------------------------------------


@event.listens_for(Session, "after_flush")
def _audit(s: Session, _context) -> None:
    """Write an Audit row for every row this flush inserted, changed or deleted, on the
    flush's own connection: in the transaction of the change, or not at all."""
    if "actor" not in s.info:
        return  # a session not opened by a Register (migrations, tests' own)
    actor = s.info["actor"]
    rows = []
    for obj in s.new:
        if not isinstance(obj, models.Audit):
            rows.append((obj, "insert", None, _values(obj)))
    for obj in s.dirty:
        if isinstance(obj, models.Audit) or not s.is_modified(obj, include_collections=False):
            continue
        before, after = _changes(obj)
        if before != after:
            rows.append((obj, "update", before, after))
    for obj in s.deleted:
        rows.append((obj, "delete", _values(obj), None))
    if not rows:
        return
    at = models.utcnow()
    s.connection().execute(
        insert(models.Audit.__table__),
        [
            {
                "at": at,
                "user_id": getattr(actor, "id", None),
                "username": getattr(actor, "username", None) or "system",
                "table_name": obj.__tablename__,
                "row_id": obj.__mapper__.primary_key_from_instance(obj)[0],
                "action": action,
                "before": before,
                "after": after,
            }
            for obj, action, before, after in rows
        ],
    )


def _values(obj) -> dict:
    return {
        column.key: _plain(column.key, getattr(obj, column.key))
        for column in obj.__mapper__.column_attrs
        if column.key not in _NOT_AUDITED
    }


def _changes(obj) -> tuple[dict, dict]:
    state = inspect(obj)
    before, after = {}, {}
    for column in obj.__mapper__.column_attrs:
        history = state.attrs[column.key].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if column.key in _NOT_AUDITED:
            old, new = "(not kept)", "(changed)"
        before[column.key] = _plain(column.key, old)
        after[column.key] = _plain(column.key, new)
    return before, after


def _plain(_name: str, value):
    # Values as JSON holds them.
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return "(%d bytes)" % len(value)
    return value
