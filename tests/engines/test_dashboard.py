"""`nas dashboard` serves optuna-dashboard for the project's database."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from nas.core.data import DataConfig
from nas.core.trainer import TrainConfig
from nas.engines import SearchConfig, SearchJob, run_search
from storage import Database
from tests.engines.support import CHEAP_ARCHS, cli_env, write_tiny_folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str, timeout_s: float, proc: subprocess.Popen) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.load(response)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _studies_listed_by_dashboard(url: str, cwd, detail: bool = False) -> dict:
    """Start `nas dashboard --db url`, read its /api/studies (with ``detail``, also each
    study's page data under "details"), then stop it with Ctrl-C."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "nas", "dashboard", "--db", url,
                             "--port", str(port)], cwd=cwd, env=cli_env(cwd),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    api = f"http://127.0.0.1:{port}/api/studies"
    try:
        listing = _get_json(api, 90, proc)
        if detail:
            listing["details"] = [_get_json(f"{api}/{s['study_id']}", 30, proc)
                                  for s in listing["study_summaries"]]
        return listing
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_dashboard_lists_the_projects_studies(tmp_path, monkeypatch):
    pytest.importorskip("optuna_dashboard", reason="dashboard extra not installed")
    monkeypatch.setenv("NAS_CACHE", str(tmp_path / "cache"))
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    data = DataConfig(path=str(write_tiny_folder(tmp_path / "data")))
    search = SearchConfig(ipc=4, archs=tuple(CHEAP_ARCHS[:2]), train=TrainConfig(epochs=1))
    summary = run_search(SearchJob(url, data, search), progress=False)
    listing = _studies_listed_by_dashboard(url, tmp_path, detail=True)
    names = [s["study_name"] for s in listing["study_summaries"]]
    assert names == [summary.study_name]
    assert listing["details"][0]["objective_names"] == ["proxy val acc"]  # not "Objective 0"


def test_dashboard_serves_a_database_no_search_has_written(tmp_path):
    """A database that holds no study yet (made by another command) lists no studies
    instead of failing; a missing one is refused (tests/cli/test_bad_input.py)."""
    pytest.importorskip("optuna_dashboard", reason="dashboard extra not installed")
    url = f"sqlite:///{tmp_path / 'new' / 'nas.db'}"
    Database(url)
    listing = _studies_listed_by_dashboard(url, tmp_path)
    assert listing["study_summaries"] == []
