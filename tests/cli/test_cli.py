"""End-to-end behaviour of the ``nas`` command line on real data and a real SQLite file."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from scipy import stats

import nas.api
from nas.cli import main
from nas.core.trainer import TrainConfig, uses_bf16
from storage import Database, list_runs

REPO = Path(__file__).resolve().parents[2]
TINY_CIFAR = ["--resize", "16", "--per-class", "20", "--test-per-class", "10"]


@pytest.fixture
def train_calls(monkeypatch):
    calls = []
    real_train = nas.api.train

    def counting_train(*args, **kwargs):
        calls.append(1)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(nas.api, "train", counting_train)
    return calls


def _dump(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return list(conn.iterdump())


def test_search_on_cifar10_subset_writes_runs_and_rerun_trains_nothing(
        cifar10_dir, tmp_path, train_calls):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    argv = ["search", "--proxy", "random", "--space", "convnet720", "--sample", "4",
            "--seed", "1", "--epochs", "2", "--ipc", "5", "--data", str(cifar10_dir),
            "--db", db, "--workers", "1", *TINY_CIFAR]  # in-process: train_calls counts
    assert main(argv) == 0
    runs = list_runs(Database(db))
    assert len(runs) == 4 and {r.status for r in runs} <= {"finished", "diverged"}
    assert len(train_calls) == 4
    assert all(r.seed == 1 and r.versions["torch"] and r.device for r in runs)
    assert main(argv) == 0
    assert len(train_calls) == 4  # nothing new trained
    assert len(list_runs(Database(db))) == 4


def test_no_amp_trains_in_float32_as_a_run_of_its_own(cifar10_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    argv = ["search", "--proxy", "random", "--archs", "d1-w32-relu-batch-avg", "--epochs", "1",
            "--ipc", "2", "--data", str(cifar10_dir), "--db", db, *TINY_CIFAR]
    assert main([*argv, "--no-amp", "--study", "fp32"]) == 0 and main(argv) == 0
    runs = {r.config["train"]["amp"]: r for r in list_runs(Database(db))}
    assert set(runs) == {False, True}  # distinct protocols, so two runs
    assert runs[False].config["bf16"] is False
    assert runs[True].config["bf16"] == uses_bf16(TrainConfig(), torch.device("cpu"))


def test_report_prints_scipy_spearman_over_shared_architectures(cifar10_dir, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    data = ["--data", str(cifar10_dir), *TINY_CIFAR]
    common = [*data, "--db", db, "--epochs", "3"]
    archs = ["d1-w32-relu-instance-avg", "d1-w32-sigmoid-none-none", "d2-w32-relu-batch-max",
             "d1-w64-leakyrelu-group-avg"]
    assert main(["search", "--proxy", "random", "--ipc", "4", "--archs", *archs, "--workers", "1",
                 *common]) == 0
    assert main(["ground-truth", *common]) == 0
    capsys.readouterr()
    assert main(["report", *data, "--db", db]) == 0
    out = capsys.readouterr().out
    database = Database(db)
    proxy = {r.arch_id: r.val_acc for r in list_runs(database) if r.proxy_id is not None}
    full = {r.arch_id: r.test_acc for r in list_runs(database, full_data=True)}  # the truth
    assert set(proxy) == set(full) == set(archs)
    expected = stats.spearmanr([proxy[a] for a in archs], [full[a] for a in archs]).statistic
    assert -1 <= expected <= 1  # a real number, not NaN from constant accuracies
    assert "random-ipc4" in out
    assert f"{expected:.3f}" in out


@pytest.mark.parametrize("argv, reason", [
    (["search", "--space", "nope"], "unknown search space 'nope'"),
    (["search", "--proxy", "nope"], "unknown proxy method 'nope'"),
    (["search", "--archs", "d9-w32-relu-none-avg"], "depth=9 is not in convnet720"),
    (["search", "--archs", "resnet"], "invalid architecture id 'resnet'"),
    (["search", "--where", "colour=red"], "unknown factor"),
    (["proxy", "--ipc", "0"], "ipc must be at least 1, got 0"),
])
def test_bad_input_exits_nonzero_with_one_line_and_leaves_db_unchanged(
        argv, reason, image_folder, tmp_path, capsys):
    db_path = tmp_path / "nas.db"
    db = f"sqlite:///{db_path}"
    assert main(["search", "--archs", "d1-w32-relu-none-avg", "--epochs", "1", "--ipc", "2",
                 "--data", str(image_folder), "--db", db]) == 0
    before = _dump(db_path)
    capsys.readouterr()
    assert main([*argv, "--data", str(image_folder), "--db", db]) == 2
    err = capsys.readouterr().err.strip()
    assert reason in err and len(err.splitlines()) == 1
    assert _dump(db_path) == before


def test_missing_dataset_path_fails_before_creating_a_database(tmp_path, capsys):
    db_path = tmp_path / "nas.db"
    assert main(["search", "--data", str(tmp_path / "nowhere"), "--db",
                 f"sqlite:///{db_path}"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "nowhere") in err and "expected one of" in err
    assert not db_path.exists()


def test_killed_search_resumes_without_retraining_finished_runs(image_folder, tmp_path,
                                                                train_calls):
    db_path = tmp_path / "nas.db"
    argv = ["search", "--proxy", "random", "--ipc", "10", "--sample", "4", "--seed", "3",
            "--where", "width=32", "--epochs", "30", "--data", str(image_folder),
            "--db", f"sqlite:///{db_path}", "--threads", "1", "--workers", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    worker = subprocess.Popen([sys.executable, "-m", "nas", *argv], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    finished = []
    while time.time() < deadline and worker.poll() is None:
        time.sleep(0.2)
        if db_path.exists():
            try:
                finished = list_runs(Database(f"sqlite:///{db_path}"))
            except Exception:  # the worker may still be creating the schema
                continue
            if finished:
                break
    assert finished, "the search never finished a run"
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    done_before = {r.key for r in list_runs(Database(f"sqlite:///{db_path}"))}
    assert 1 <= len(done_before) < 4
    assert main(argv) == 0
    runs = list_runs(Database(f"sqlite:///{db_path}"))
    assert len(runs) == 4
    assert len(train_calls) == 4 - len(done_before)
