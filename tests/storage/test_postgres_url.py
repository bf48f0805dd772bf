"""PostgreSQL URLs as users write them, and a clear line when the server is not there."""

from __future__ import annotations

import importlib.util
import socket

import pytest
from sqlalchemy.engine import make_url

from storage import (
    Database,
    DatabaseUnreachableError,
    StorageError,
    create_search,
    exclusive,
    upsert_dataset,
)


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_plain_postgresql_url_uses_psycopg3():
    assert make_url("postgresql://me@db.lab/nas").get_dialect().driver == "psycopg"


@pytest.mark.skipif(importlib.util.find_spec("pg8000") is not None, reason="pg8000 installed")
def test_missing_driver_module_is_named_with_the_extra_to_install():
    with pytest.raises(StorageError, match=r"module 'pg8000'.*nas-proxy\[postgres\]"):
        Database("postgresql+pg8000://me@127.0.0.1/nas")


def test_refused_connection_names_host_and_port_in_one_line():
    port = _closed_port()
    with pytest.raises(DatabaseUnreachableError) as caught:
        Database(f"postgresql://me:secret@127.0.0.1:{port}/nas")
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "refused" in message.lower()
    assert "\n" not in message and "secret" not in message


def test_refused_connection_of_the_study_lock_is_the_same_error():
    port = _closed_port()
    with pytest.raises(DatabaseUnreachableError, match=f"127.0.0.1:{port}"), \
            exclusive(f"postgresql://me@127.0.0.1:{port}/nas", "lock"):
        pass


@pytest.mark.postgres
def test_fixture_serves_the_readme_url_form(postgres_url):
    assert postgres_url.startswith("postgresql://")
    db = Database(postgres_url)
    dataset = upsert_dataset(db, key="d", source_path="/d", content_hash="h", config={},
                             summary={})
    assert create_search(db, name="s", space="convnet720", dataset_id=dataset.id,
                         proxy_id=None, strategy="grid", seed=0, config={}) >= 1
    with exclusive(postgres_url, "lock"):
        pass


@pytest.mark.postgres
def test_login_the_server_rejects_is_one_line_naming_host_and_port(postgres_url):
    url = make_url(postgres_url).set(database="no_such_database")
    with pytest.raises(DatabaseUnreachableError) as caught:
        Database(url.render_as_string(hide_password=False))
    message = str(caught.value)
    assert f"{url.host}:{url.port}" in message and "no_such_database" in message
    assert "\n" not in message


@pytest.mark.postgres
@pytest.mark.skipif(importlib.util.find_spec("psycopg2") is None, reason="psycopg2 not installed")
def test_explicit_psycopg2_url_is_accepted(postgres_url):
    url = postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    assert Database(url).engine.dialect.driver == "psycopg2"
    with exclusive(url, "lock"):
        pass
