"""Engine, one transaction scope, and the schema-version check."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from storage.models import SCHEMA_VERSION, Base, Meta

DB_ENV = "NAS_DB"
DEFAULT_HOME = Path("nas-runs")  # project directory: database + artifacts, relative to cwd
SCHEMA_ATTEMPTS = 5  # first-use schema creation racing other processes
CONNECT_TIMEOUT_S = 10  # a server host that does not answer fails in seconds, not TCP minutes
POSTGRES_PORT = 5432  # libpq's default when the URL names none


class StorageError(RuntimeError):
    """A database operation failed or the schema does not match this code."""


class DatabaseUnreachableError(StorageError):
    """A database server refused the connection, did not answer, or rejected the login."""


def unreachable_error(url: str | URL, exc: BaseException) -> DatabaseUnreachableError:
    """A one-line error naming the server's host and port and the driver's reason, e.g.
    ``cannot connect to the database server at db.lab:5432 (postgresql://me@db.lab/nas):
    Connection refused``."""
    parsed = make_url(url)
    text = str(getattr(exc, "orig", None) or exc).strip()
    reason = text.splitlines()[0].rpartition(": ")[2].strip() if text else ""
    reason = reason or type(exc).__name__
    where = f"{parsed.host or 'localhost'}:{parsed.port or POSTGRES_PORT}"
    return DatabaseUnreachableError(
        f"cannot connect to the database server at {where} "
        f"({parsed.render_as_string(hide_password=True)}): {reason}")


def server_connect_args(url: str | URL) -> dict:
    """Driver arguments for a server database (none for SQLite): a connect timeout."""
    return {} if make_url(url).get_backend_name() == "sqlite" \
        else {"connect_timeout": CONNECT_TIMEOUT_S}


def default_url() -> str:
    return os.environ.get(DB_ENV) or f"sqlite:///{DEFAULT_HOME / 'nas.db'}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
    cursor.execute("PRAGMA busy_timeout=60000")  # several local processes: wait, don't fail
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine; SQLite files get their directory, WAL and a busy timeout; a server
    gets a connect timeout. ``postgresql://`` uses psycopg (3), ``postgresql+psycopg2://``
    psycopg2 where that is installed.

    Raises:
        StorageError: the URL's driver module is not installed.
    """
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("connect_args", server_connect_args(url))
    try:
        engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"), **kwargs)
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


class Database:
    """Owns the engine; ``with db.session() as s:`` is the only way to read or write."""

    def __init__(self, url: str | None = None):
        self.url = url or default_url()
        try:
            self.engine = make_engine(self.url)
            check_connection(self.engine)  # one clear line, not the schema check's retries
            self._sessions = sessionmaker(self.engine, expire_on_commit=False)
            self._ensure_schema()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot open database {self.safe_url}: {exc}") from exc

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True) if hasattr(self, "engine") \
            else self.url

    @property
    def home(self) -> Path:
        """Directory for artifacts: beside a SQLite file, else $NAS_HOME or ./nas-runs."""
        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and database not in (None, "", ":memory:"):
            return Path(database).expanduser().resolve().parent
        return Path(os.environ.get("NAS_HOME", DEFAULT_HOME)).resolve()

    def _ensure_schema(self) -> None:
        """Create the schema on first use, or check its version. Safe when several processes
        open a new database at once: a step that collides with another process's creation
        (table exists, duplicate version row, version row not written yet) is retried."""
        for attempt in range(SCHEMA_ATTEMPTS):
            try:
                found = self._schema_version()
                if found is None:
                    self._create_schema()
                elif found != SCHEMA_VERSION:
                    raise StorageError(
                        f"database {self.safe_url} has schema version {found}, this code "
                        f"expects {SCHEMA_VERSION}; use a new --db or migrate the old one")
                return
            except SQLAlchemyError:
                if attempt == SCHEMA_ATTEMPTS - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))

    def _schema_version(self) -> int | None:
        if not inspect(self.engine).has_table(Meta.__tablename__):
            return None
        with self._sessions() as s:
            row = s.get(Meta, "schema_version")
        return int(row.value) if row else None

    def _create_schema(self) -> None:
        Base.metadata.create_all(self.engine)  # checkfirst: tables that exist are skipped
        with self._sessions.begin() as s:
            if s.get(Meta, "schema_version") is None:
                s.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: commits on success, rolls back and raises StorageError on failure."""
        session = self._sessions()
        try:
            with session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise StorageError(f"database error on {self.safe_url}: {exc}") from exc
        finally:
            session.close()
