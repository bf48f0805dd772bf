"""One cross-process lock per (database, name): study setup and trial hand-out run under it.

PostgreSQL uses a session-level advisory lock (released by the server if the holder dies);
a SQLite file uses an OS file lock beside the database (SQLite is single-host anyway).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from filelock import FileLock
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from storage.db import make_engine, unreachable_error


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key derived from ``name``."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big",
                          signed=True)


@contextmanager
def _postgres_lock(url: URL, name: str) -> Iterator[None]:
    engine = make_engine(url.render_as_string(hide_password=False), poolclass=NullPool)
    try:
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
    finally:
        engine.dispose()


def _sqlite_lock(url: URL, name: str) -> AbstractContextManager:
    if url.database in (None, "", ":memory:"):
        return nullcontext()  # an in-memory database lives in one process
    digest = hashlib.blake2b(name.encode(), digest_size=6).hexdigest()
    path = Path(url.database).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)  # the lock comes before the database file
    return FileLock(str(path.parent / f".{path.name}.{digest}.lock"))


_LOCKS: dict[str, Callable[[URL, str], AbstractContextManager]] = {
    "postgresql": _postgres_lock,
    "sqlite": _sqlite_lock,
}


def exclusive(url: str, name: str) -> AbstractContextManager:
    """Hold the lock ``name`` on database ``url`` for the ``with`` block (blocks until free).

    Raises:
        ValueError: for a database other than SQLite or PostgreSQL.
    """
    parsed = make_url(url)
    try:
        return _LOCKS[parsed.get_backend_name()](parsed, name)
    except KeyError:
        raise ValueError(f"searches run on SQLite or PostgreSQL, not {parsed.get_backend_name()}"
                         f" ({parsed.render_as_string(hide_password=True)})") from None
