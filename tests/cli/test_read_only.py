"""Read-only commands on a SQLite database that does not exist: one stderr line naming the
file and what to do, exit status 2, and nothing created (run as a user runs them)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.engines.support import cli_env

READ_ONLY = [["report"], ["proxy", "list"], ["dashboard", "--port", "8999"]]


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("db", ["missing/x.db", None], ids=["--db", "default"])
def test_read_only_command_on_a_missing_database_creates_nothing(command, db, tmp_path):
    argv = [*command, "--db", f"sqlite:///{db}"] if db else command
    done = subprocess.run([sys.executable, "-m", "nas", *argv], cwd=tmp_path,
                          env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)
    missing = tmp_path / (db or "nas-runs/nas.db")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"no database at {missing}" in done.stderr and "nas demo" in done.stderr
    assert list(tmp_path.rglob("*")) == []  # no file, no folder
