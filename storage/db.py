"""Engine, one transaction scope, and the schema-version check."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import JSON, Column, inspect, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from storage.dialect import check_connection, make_engine
from storage.errors import StorageError
from storage.models import SCHEMA_VERSION, Base, Meta, Run

DB_ENV = "NAS_DB"
DEFAULT_HOME = Path("nas-runs")  # project directory: database + artifacts, relative to cwd
SCHEMA_ATTEMPTS = 5  # first-use schema creation racing other processes


def default_url() -> str:
    return os.environ.get(DB_ENV) or f"sqlite:///{DEFAULT_HOME / 'nas.db'}"


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
                elif found == 3:
                    self._migrate_from_3()
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

    def _migrate_from_3(self) -> None:
        """Version 3 -> 4: add the runs' nullable learning-curve column (alembic's DDL, so
        SQLite and PostgreSQL alike); existing runs keep no curve."""
        with self.engine.begin() as connection:
            Operations(MigrationContext.configure(connection)).add_column(
                Run.__tablename__, Column("curve", JSON, nullable=True))
            connection.execute(update(Meta).where(Meta.key == "schema_version")
                               .values(value=str(SCHEMA_VERSION)))

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
