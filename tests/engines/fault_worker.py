"""`python -m tests.engines.fault_worker search ...`: a `nas search` worker with two test hooks.

``NAS_FAULT_DIR`` names a directory. Right after this worker claims a trial (still holding
the study lock, before the trial's first heartbeat) it tries to take the file ``arm`` there;
when it gets it, it writes ``claimed-<pid>`` and waits for the driver's SIGKILL. So the
driver can kill a worker exactly in the window between a claim and its first heartbeat.

``NAS_FAULT_TRIAL_SECONDS`` makes every trial last at least that long, standing in for longer
training so that random kills land mid-trial as often as between trials. Trials numbered
``NAS_FAULT_HOLD_FROM`` or more then wait while the file ``hold`` exists there, so the grid
cannot finish before the driver has made every planned kill, however loaded the machine.
"""

from __future__ import annotations

import os
import runpy
import sys
import time
from pathlib import Path

import nas.engines.worker as worker

WAIT_FOR_KILL_S = 120  # far longer than the driver takes to see the marker


def _install_hooks(fault_dir: Path, trial_seconds: float, hold_from: int) -> None:
    claimed, evaluate_trial = worker.claimed, worker.evaluate_trial

    def claimed_or_stop(session, trial):
        if trial is not None:
            try:
                os.rename(fault_dir / "arm", fault_dir / f"taken-{os.getpid()}")
            except FileNotFoundError:
                pass
            else:
                (fault_dir / f"claimed-{os.getpid()}").write_text(str(trial.number))
                time.sleep(WAIT_FOR_KILL_S)
                raise SystemExit("the fault driver never killed this worker")
        return claimed(session, trial)

    def slow_evaluate(session, trial, objective):
        def slow_objective(session, trial):  # runs under the trial's heartbeat
            time.sleep(trial_seconds)
            while trial.number >= hold_from and (fault_dir / "hold").exists():
                time.sleep(0.05)
            return objective(session, trial)
        return evaluate_trial(session, trial, slow_objective)

    # ``work`` looks both up in the worker module at call time
    worker.claimed, worker.evaluate_trial = claimed_or_stop, slow_evaluate


if __name__ == "__main__":
    _install_hooks(Path(os.environ["NAS_FAULT_DIR"]),
                   float(os.environ.get("NAS_FAULT_TRIAL_SECONDS", "0")),
                   int(os.environ.get("NAS_FAULT_HOLD_FROM", str(10**9))))
    sys.argv = ["nas", *sys.argv[1:]]
    runpy.run_module("nas", run_name="__main__", alter_sys=True)
