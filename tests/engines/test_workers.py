"""Several worker processes finishing one study on a real PostgreSQL server."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter

import optuna
import pytest
from optuna.trial import TrialState

from storage import Database, list_runs
from tests.engines.support import (
    CHEAP_ARCHS,
    complete_per_arch,
    finish,
    only_study,
    search_cmd,
    start,
    write_tiny_folder,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _runs_per_arch(url: str, study: optuna.Study) -> dict[str, int]:
    runs = list_runs(Database(url), search_id=study.user_attrs["search_id"])
    counts: dict[str, int] = {}
    for r in runs:
        counts[r.arch_id] = counts.get(r.arch_id, 0) + 1
    return counts


def test_three_workers_evaluate_each_grid_point_exactly_once(tmp_path, postgres_url):
    data = write_tiny_folder(tmp_path / "data")
    cmd = search_cmd(data, postgres_url, "--strategy", "grid", "--archs", *CHEAP_ARCHS,
                     "--epochs", "1", "--workers", "1", "--heartbeat", "5")
    procs = [start(cmd, tmp_path, f"worker{i}.log") for i in range(3)]
    for i, proc in enumerate(procs):
        finish(proc, tmp_path, f"worker{i}.log")

    study = only_study(postgres_url)
    trials = study.get_trials()
    assert len(trials) == len(CHEAP_ARCHS)  # no point enqueued twice, no stray trial
    assert complete_per_arch(study) == {arch: 1 for arch in CHEAP_ARCHS}
    assert _runs_per_arch(postgres_url, study) == {arch: 1 for arch in CHEAP_ARCHS}
    for t in trials:  # dashboard-ready: every factor is a categorical distribution
        assert set(t.distributions) == {"depth", "width", "activation", "norm", "pooling"}
        assert t.value == t.user_attrs["val_acc"]
    per_worker = Counter(t.user_attrs["worker"] for t in trials)
    print(f"trials per worker: {sorted(per_worker.values())}")


def test_three_sh_workers_measure_each_cell_once_per_rung(tmp_path, postgres_url):
    """Zero-cost rungs are added as one batch by whichever worker holds the study lock; the
    training rung's trials are claimed one at a time."""
    data = write_tiny_folder(tmp_path / "data")
    cmd = search_cmd(data, postgres_url, "--space", "nb201", "--strategy", "sh", "--fidelities",
                     "params", "synflow", "train:1", "--bracket", "9", "--eta", "3",
                     "--trials", "13", "--epochs", "1", "--workers", "1", "--heartbeat", "5")
    procs = [start(cmd, tmp_path, f"worker{i}.log") for i in range(3)]
    for i, proc in enumerate(procs):
        finish(proc, tmp_path, f"worker{i}.log")

    study = only_study(postgres_url)
    trials = study.get_trials()
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    cells = Counter((t.user_attrs["rung"], t.user_attrs["arch_id"]) for t in trials)
    assert set(cells.values()) == {1}
    assert Counter(rung for rung, _ in cells) == {0: 9, 1: 3, 2: 1}
    (final,) = [arch for rung, arch in cells if rung == 2]
    assert _runs_per_arch(postgres_url, study) == {final: 1}


def _as_other_host(cmd: list[str]) -> list[str]:
    """Run ``cmd`` in a new UTS namespace under another host name, so the only way it can
    tell the killed worker is dead is the missing heartbeat (as on a second machine)."""
    probe = subprocess.run(["unshare", "-u", "hostname", "other-host"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot simulate a second host with unshare: {probe.stderr.decode()}")
    return ["unshare", "-u", "sh", "-c", 'hostname other-host && exec "$@"', "sh", *cmd]


def _kill_mid_trial(cmd: list[str], url: str, tmp_path, attempts: int = 3) -> int:
    """Start a worker, SIGKILL it while it trains a trial (after at least one finished) and
    return the number of the trial it left RUNNING. A kill that lands between two trials
    leaves none; then a new worker is started and killed again."""
    for attempt in range(attempts):
        victim = start(cmd, tmp_path, f"victim{attempt}.log")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and victim.poll() is None:
            time.sleep(0.05)
            try:
                study = only_study(url)
            except ValueError:  # the study does not exist yet
                continue
            training = [t for t in study.get_trials(states=(TrialState.RUNNING,))
                        if "arch_id" in t.user_attrs]
            if study.get_trials(states=(TrialState.COMPLETE,)) and training:
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                left = only_study(url).get_trials(states=(TrialState.RUNNING,))
                if len(left) == 1:
                    return left[0].number
                break
        victim.kill()
        victim.wait()
    raise AssertionError(f"no kill landed mid-trial in {attempts} attempts: "
                         f"{(tmp_path / 'victim0.log').read_text()[-2000:]}")


@pytest.mark.parametrize("restart_on", ["same-host", "other-host"])
def test_killed_worker_trial_is_failed_and_rerun_once(tmp_path, postgres_url, restart_on):
    """Same host: the restarted worker sees the dead pid at once. Other host: it waits for
    the dead worker's heartbeat to go stale (2 x 1 s)."""
    data = write_tiny_folder(tmp_path / "data")
    cmd = search_cmd(data, postgres_url, "--strategy", "grid", "--archs", *CHEAP_ARCHS,
                     "--epochs", "600", "--workers", "1", "--heartbeat", "1")  # trials of ~1-3 s
    killed_number = _kill_mid_trial(cmd, postgres_url, tmp_path)

    restart = cmd if restart_on == "same-host" else _as_other_host(cmd)
    finish(start(restart, tmp_path, "restarted.log"), tmp_path, "restarted.log")

    study = only_study(postgres_url)
    killed = study.trials[killed_number]
    assert killed.state == TrialState.FAIL
    assert complete_per_arch(study) == {arch: 1 for arch in CHEAP_ARCHS}
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") == killed_number]
    assert [t.state for t in retried] == [TrialState.COMPLETE]
    assert retried[0].params == killed.system_attrs["fixed_params"]  # the same grid point
    assert _runs_per_arch(postgres_url, study) == {arch: 1 for arch in CHEAP_ARCHS}


def test_local_workers_on_sqlite_evaluate_each_point_once(tmp_path):
    data = write_tiny_folder(tmp_path / "data")
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    cmd = search_cmd(data, url, "--strategy", "grid", "--archs", *CHEAP_ARCHS, "--epochs", "1",
                     "--workers", "2", "--heartbeat", "2")
    parent = start(cmd, tmp_path, "local.log")
    out = finish(parent, tmp_path, "local.log")
    assert "use PostgreSQL" in out  # recommended up front for several workers on SQLite
    study = only_study(url)
    assert len(study.trials) == len(CHEAP_ARCHS)
    assert complete_per_arch(study) == {arch: 1 for arch in CHEAP_ARCHS}
    assert _runs_per_arch(url, study) == {arch: 1 for arch in CHEAP_ARCHS}
    pids = {int(t.user_attrs["worker"].rsplit(":", 1)[1]) for t in study.trials}
    assert parent.pid not in pids  # trained by the spawned worker processes
