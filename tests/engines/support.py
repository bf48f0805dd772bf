"""Helpers for the engine tests: a tiny image folder, CLI subprocesses, study queries."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import optuna
from optuna.trial import TrialState

from tests.datasets import write_image_folder

REPO = Path(__file__).resolve().parents[2]
# cheap points of convnet720 (depth 1, width 32): 8 distinct grid points
CHEAP_ARCHS = [f"d1-w32-{act}-{norm}-max" for act in ("relu", "sigmoid")
               for norm in ("none", "batch", "instance", "group")]


def write_tiny_folder(root: Path) -> Path:
    """train/<class>/*.png and test/<class>/*.png: 3 classes of 16x16 images, 8 + 3 each."""
    return write_image_folder(root, n_train=8, n_test=3, size=16)


def cli_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NAS_DB", "NAS_DATA")}
    return env | {"PYTHONPATH": str(REPO), "NAS_CACHE": str(tmp / "cache"),
                  "NAS_HOME": str(tmp / "home"), "PYTHONUNBUFFERED": "1"}


def search_cmd(data: Path, db: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nas", "search", "--data", str(data), "--db", db,
            "--proxy", "random", "--ipc", "4", "--threads", "1", *extra]


def start(cmd: list[str], tmp: Path, log: str) -> subprocess.Popen:
    out = open(tmp / log, "w")  # noqa: SIM115  (closed with the process)
    return subprocess.Popen(cmd, cwd=tmp, env=cli_env(tmp), stdout=out,
                            stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen, tmp: Path, log: str, timeout: float = 240) -> str:
    proc.wait(timeout=timeout)
    text = (tmp / log).read_text()
    assert proc.returncode == 0, f"{log} exited {proc.returncode}:\n{text[-3000:]}"
    return text


def only_study(url: str) -> optuna.Study:
    (summary,) = optuna.get_all_study_summaries(url, include_best_trial=False)
    return optuna.load_study(study_name=summary.study_name, storage=url)


def complete_per_arch(study: optuna.Study) -> Counter:
    return Counter(t.user_attrs["arch_id"]
                   for t in study.get_trials(states=(TrialState.COMPLETE,)))
