"""Everything that differs between SQLite and PostgreSQL, in one place: engine settings
(SQLite's directory, WAL and busy timeout), and one cross-process lock per (database, name).

PostgreSQL locks are session-level advisory locks (released by the server if the holder
dies) on one engine per database URL and process, reused by every lock; a SQLite file uses
an OS file lock beside the database (SQLite is single-host anyway).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache
from pathlib import Path

from filelock import FileLock
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import OperationalError

from nas.errors import InputError
from storage.errors import DatabaseUnreachableError, StorageError

SQLITE_BUSY_TIMEOUT_S = 60  # several local processes share a file: wait this long, don't fail
CONNECT_TIMEOUT_S = 10  # a server host that does not answer fails in seconds, not TCP minutes
POSTGRES_PORT = 5432  # libpq's default when the URL names none


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for in-memory or other databases)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser().resolve()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def server_connect_args(url: str | URL) -> dict:
    """Driver arguments for a server database (none for SQLite): a connect timeout."""
    return {} if make_url(url).get_backend_name() == "sqlite" \
        else {"connect_timeout": CONNECT_TIMEOUT_S}


def unreachable_error(url: str | URL, exc: BaseException) -> DatabaseUnreachableError:
    """A one-line error naming the server's host and port and the driver's reason, e.g.
    ``cannot connect to the database server at db.lab:5432 (postgresql://me@db.lab/nas):
    Connection refused``."""
    parsed = make_url(url)
    text_ = str(getattr(exc, "orig", None) or exc).strip()
    reason = text_.splitlines()[0].rpartition(": ")[2].strip() if text_ else ""
    reason = reason or type(exc).__name__
    where = f"{parsed.host or 'localhost'}:{parsed.port or POSTGRES_PORT}"
    return DatabaseUnreachableError(
        f"cannot connect to the database server at {where} "
        f"({parsed.render_as_string(hide_password=True)}): {reason}")


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine; SQLite files get their directory, WAL and a busy timeout; a server
    gets a connect timeout. ``postgresql://`` uses psycopg (3), ``postgresql+psycopg2://``
    psycopg2 where that is installed.

    Raises:
        StorageError: the URL's driver module is not installed.
    """
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("connect_args", server_connect_args(url))
    try:
        engine = create_engine(url, pool_pre_ping=not is_sqlite(url), **kwargs)
    except ImportError as exc:
        raise StorageError(
            f"the database URL {make_url(url).render_as_string(hide_password=True)} needs the "
            f"Python module {exc.name!r}; `pip install 'nas-proxy[postgres]'` installs psycopg "
            "for postgresql:// URLs") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def check_connection(engine: Engine) -> None:
    """Open one connection to a server database (SQLite files need none).

    Raises:
        DatabaseUnreachableError: the server refused, timed out or rejected the login.
    """
    if engine.dialect.name == "sqlite":
        return
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        raise unreachable_error(engine.url, exc) from exc


def optuna_engine_kwargs(url: str) -> dict:
    """``engine_kwargs`` for Optuna's RDBStorage on ``url``: SQLite's busy timeout, or a
    server's connect timeout."""
    return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S} if is_sqlite(url)
            else server_connect_args(url)}


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key derived from ``name``."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big",
                          signed=True)


@cache
def _lock_engine(url: str, pid: int) -> Engine:
    """One engine per database and process for advisory locks (a forked child gets its own)."""
    return make_engine(url)


@contextmanager
def _postgres_lock(url: URL, name: str) -> Iterator[None]:
    engine = _lock_engine(url.render_as_string(hide_password=False), os.getpid())
    try:
        conn = engine.connect()
    except OperationalError as exc:
        raise unreachable_error(url, exc) from exc
    with conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _lock_key(name)})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(name)})
            conn.commit()


def _sqlite_lock(url: URL, name: str) -> AbstractContextManager:
    path = sqlite_file(url.render_as_string(hide_password=False))
    if path is None:
        return nullcontext()  # an in-memory database lives in one process
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.blake2b(name.encode(), digest_size=6).hexdigest()
    return FileLock(str(path.parent / f".{path.name}.{digest}.lock"))


_LOCKS: dict[str, Callable[[URL, str], AbstractContextManager]] = {
    "postgresql": _postgres_lock,
    "sqlite": _sqlite_lock,
}
BACKENDS = tuple(sorted(_LOCKS))  # the database backends the toolkit runs on


def exclusive(url: str, name: str) -> AbstractContextManager:
    """Hold the lock ``name`` on database ``url`` for the ``with`` block (blocks until free).

    Raises:
        InputError: for a database other than SQLite or PostgreSQL.
    """
    parsed = make_url(url)
    try:
        return _LOCKS[parsed.get_backend_name()](parsed, name)
    except KeyError:
        raise InputError(f"searches run on SQLite or PostgreSQL, not {parsed.get_backend_name()}"
                         f" ({parsed.render_as_string(hide_password=True)})") from None
