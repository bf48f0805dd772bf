"""A real, throwaway PostgreSQL server for tests: initdb + pg_ctl in a temp dir on a free port.

``postgres_server`` (session scope) starts one server; ``postgres_url`` gives each test its own
fresh database on it. Without PostgreSQL binaries the tests skip (``make test`` installs the
Debian package ``postgresql``). initdb refuses to run as root, so as root the server runs as
the ``postgres`` (else ``nobody``) user in a temp dir that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

SERVER_USERS = ("postgres", "nobody")


def find_pg_bin() -> Path | None:
    """Directory holding initdb and pg_ctl: PATH first, then /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in SERVER_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.skip(f"running as root and none of the users {SERVER_USERS} exists to run initdb")


def _run(cmd: list[str], user: pwd.struct_passwd | None) -> None:
    prefix = ["runuser", "-u", user.pw_name, "--"] if user else []
    done = subprocess.run(prefix + cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Start a PostgreSQL cluster; yields the admin URL (database ``postgres``)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin)"
                    "; install the `postgresql` package (make test does)")
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="nas-pg-"))
    if user:
        os.chown(root, user.pw_uid, user.pw_gid)
    data, port = root / "data", _free_port()
    _run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
          "-E", "UTF8", "--no-sync"], user)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off " \
              "-c max_connections=200"
    _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
          "-w", "-t", "60", "start"], user)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"  # the README's form
    finally:
        _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], user)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's server."""
    name = f"nas_{uuid.uuid4().hex[:12]}"
    engine = create_engine(postgres_server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"
