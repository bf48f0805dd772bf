"""Exactly once under faults: worker processes share a grid while a driver SIGKILLs one at a
random moment, or right after it claims a trial (before its first heartbeat), and restarts
it. Afterwards each grid point has exactly one COMPLETE trial and one finished run.

The figures (kills, restarts, points, duplicates, lost) are printed (``pytest -s``) as one
line per backend, starting with ``fault-injection``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from optuna.trial import TrialState

from storage import Database, list_runs
from tests.engines.support import cli_env, only_study, write_tiny_folder

pytestmark = [pytest.mark.slow, pytest.mark.faults, pytest.mark.timeout(300)]

# 24 cheap points of convnet720: depth 1, width 32, every activation, 4 norms, 2 poolings
GRID = [f"d1-w32-{act}-{norm}-{pool}" for act in ("relu", "sigmoid", "leakyrelu")
        for norm in ("none", "batch", "instance", "group") for pool in ("max", "avg")]
KILLS = ("after-claim", "random") * 3  # shuffled per run: 6 kills, 3 of each kind
TRIAL_SECONDS = 0.8  # each trial lasts at least this long, so kills land mid-trial too
KILL_GAP_S = (0.3, 1.5)  # random pause between two kills
HOLD_FROM = len(GRID) - 6  # trials from this number on wait until every kill is made
ARM_WAIT_S = 5.0  # an arm nobody takes (every worker held in a trial) turns into a random kill
BUDGET_S = 200  # the driver gives up (and the test fails) after this long


class _Driver:
    """Starts ``workers`` worker processes on ``url`` and kills and restarts them."""

    def __init__(self, url: str, tmp: Path, workers: int, seed: int):
        self.url, self.tmp, self.rng = url, tmp, random.Random(seed)
        self.faults = tmp / "faults"
        self.faults.mkdir()
        (self.faults / "hold").touch()
        data = write_tiny_folder(tmp / "data")
        self.cmd = [sys.executable, "-m", "tests.engines.fault_worker", "search",
                    "--data", str(data),
                    "--db", url, "--proxy", "random", "--ipc", "4", "--threads", "1",
                    "--strategy", "grid", "--archs", *GRID, "--epochs", "1", "--workers", "1",
                    "--heartbeat", "2"]
        self.env = cli_env(tmp) | {"NAS_FAULT_DIR": str(self.faults),
                                   "NAS_FAULT_TRIAL_SECONDS": str(TRIAL_SECONDS),
                                   "NAS_FAULT_HOLD_FROM": str(HOLD_FROM)}
        self.procs: dict[int, subprocess.Popen] = {}
        self.logs: dict[int, Path] = {}
        self.figures = Counter()
        for slot in range(workers):
            self._start(slot)
        self.figures["restarts"] = 0

    def _start(self, slot: int) -> None:
        log = self.tmp / f"worker{slot}-{self.figures['starts']}.log"
        self.figures["starts"] += 1
        self.figures["restarts"] += 1
        self.logs[slot] = log
        with open(log, "w") as out:
            self.procs[slot] = subprocess.Popen(self.cmd, cwd=self.tmp, env=self.env,
                                                stdout=out, stderr=subprocess.STDOUT)

    def _owns_running_trial(self, pid: int) -> bool:
        try:
            running = only_study(self.url).get_trials(states=(TrialState.RUNNING,))
        except ValueError:  # no study yet
            return False
        return any(str(t.user_attrs.get("worker", "")).endswith(f":{pid}") for t in running)

    def _kill_and_restart(self, slot: int, kind: str) -> None:
        proc = self.procs[slot]
        if kind == "random" and self._owns_running_trial(proc.pid):
            self.figures["random_kills_mid_trial"] += 1
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            self.figures[f"kills_{kind}"] += 1
        self._start(slot)

    def _check_exits(self) -> None:
        for slot, proc in self.procs.items():
            if proc.poll() not in (None, 0):
                raise AssertionError(f"worker {slot} exited {proc.returncode}:\n"
                                     f"{self.logs[slot].read_text()[-3000:]}")

    def _any_running(self) -> bool:
        try:
            return bool(only_study(self.url).get_trials(states=(TrialState.RUNNING,)))
        except ValueError:  # no study yet
            return False

    def run(self) -> None:
        plan = list(KILLS)
        self.rng.shuffle(plan)
        deadline = time.monotonic() + BUDGET_S
        while not self._any_running():  # kills start once the grid is being worked on
            self._check_exits()
            assert time.monotonic() < deadline, "no trial ever started"
            time.sleep(0.2)
        next_kill, armed, armed_at = time.monotonic() + self.rng.uniform(*KILL_GAP_S), False, 0.0
        while time.monotonic() < deadline:
            if not plan and not armed:
                (self.faults / "hold").unlink(missing_ok=True)  # let the grid finish
            if armed and time.monotonic() > armed_at + ARM_WAIT_S:
                with contextlib.suppress(FileNotFoundError):
                    (self.faults / "arm").unlink()  # nobody claims: free a slot instead
                    plan.append("after-claim")
                    armed, next_kill = False, time.monotonic()
                    alive = [s for s, p in self.procs.items() if p.poll() is None]
                    self._kill_and_restart(self.rng.choice(alive), "random")
            for marker in self.faults.glob("claimed-*"):  # a worker stopped after its claim
                pid = int(marker.name.removeprefix("claimed-"))
                (slot,) = [s for s, p in self.procs.items() if p.pid == pid]
                self._kill_and_restart(slot, "after_claim")
                marker.unlink()
                armed, next_kill = False, time.monotonic() + self.rng.uniform(*KILL_GAP_S)
            self._check_exits()
            if all(p.poll() == 0 for p in self.procs.values()):
                return
            if plan and not armed and time.monotonic() >= next_kill:
                if plan.pop() == "after-claim":
                    (self.faults / "arm").touch()  # the next worker to claim a trial stops
                    armed, armed_at = True, time.monotonic()
                else:
                    alive = [s for s, p in self.procs.items() if p.poll() is None]
                    self._kill_and_restart(self.rng.choice(alive), "random")
                    next_kill = time.monotonic() + self.rng.uniform(*KILL_GAP_S)
            time.sleep(0.02)
        for proc in self.procs.values():
            proc.kill()
            proc.wait()
        stuck = only_study(self.url).get_trials(states=(TrialState.RUNNING,))
        raise AssertionError(f"workers still running after {BUDGET_S} s; trials left RUNNING "
                             f"(points lost): {[t.number for t in stuck]}; {dict(self.figures)}")


def _figures(url: str, driver: _Driver, backend: str, seconds: float) -> dict:
    study = only_study(url)
    trials = study.get_trials()
    complete = Counter(t.user_attrs["arch_id"] for t in trials if t.state == TrialState.COMPLETE)
    runs = Counter(r.arch_id for r in list_runs(Database(url),
                                                search_id=study.user_attrs["search_id"])
                   if r.status == "finished")
    kills = driver.figures["kills_after_claim"] + driver.figures["kills_random"]
    return {
        "backend": backend, "workers": len(driver.procs), "points": len(GRID),
        "kills": kills, "kills_after_claim": driver.figures["kills_after_claim"],
        "kills_random": driver.figures["kills_random"],
        "random_kills_mid_trial": driver.figures["random_kills_mid_trial"],
        "restarts": driver.figures["restarts"],
        "trials": len(trials),
        "failed_requeued": sum(t.state == TrialState.FAIL for t in trials),
        "left_running_or_waiting": sum(t.state in (TrialState.RUNNING, TrialState.WAITING)
                                       for t in trials),
        "duplicates": sum(n - 1 for n in complete.values() if n > 1),
        "lost": sum(complete[a] == 0 for a in GRID),
        "finished_runs": sum(runs.values()),
        "duplicate_runs": sum(n - 1 for n in runs.values() if n > 1),
        "seconds": round(seconds, 1),
    }


def _run_faulted_grid(url: str, tmp: Path, workers: int, backend: str) -> None:
    start = time.monotonic()
    driver = _Driver(url, tmp, workers, seed=int.from_bytes(os.urandom(4), "big"))
    driver.run()
    figures = _figures(url, driver, backend, time.monotonic() - start)
    line = json.dumps(figures)
    print(f"fault-injection {line}")
    (tmp / "fault-figures.json").write_text(line)
    assert figures["kills"] >= 5 and figures["kills_after_claim"] >= 1, figures
    assert figures["restarts"] == figures["kills"], figures
    assert figures["duplicates"] == 0 and figures["lost"] == 0, figures
    assert figures["left_running_or_waiting"] == 0, figures
    assert figures["finished_runs"] == len(GRID) and figures["duplicate_runs"] == 0, figures


@pytest.mark.postgres
def test_three_postgres_workers_killed_at_random_run_each_point_once(tmp_path, postgres_url):
    _run_faulted_grid(postgres_url, tmp_path, workers=3, backend="postgresql")


def test_two_sqlite_workers_killed_at_random_run_each_point_once(tmp_path):
    _run_faulted_grid(f"sqlite:///{tmp_path / 'nas.db'}", tmp_path, workers=2, backend="sqlite")
