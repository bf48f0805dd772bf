"""Several processes opening one new database at the same moment all get a usable schema."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from storage import Database, list_runs
from tests.engines.support import REPO

OPEN_AT = """
import sys, time
from storage import Database
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
Database(sys.argv[1])
"""


def _open_at_once(url: str, processes: int) -> list[tuple[int, str]]:
    start = time.time() + 8  # every process is past its imports by then
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_AT, url, str(start)], cwd=REPO,
                              stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    return [(p.wait(timeout=120), p.stderr.read()) for p in procs]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_processes_creating_one_database_at_once_all_succeed(backend, tmp_path, request):
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" \
        else f"sqlite:///{tmp_path / 'nas.db'}"
    results = _open_at_once(url, processes=4)
    assert [rc for rc, _ in results] == [0] * 4, [err[-400:] for _, err in results]
    assert list_runs(Database(url)) == []
