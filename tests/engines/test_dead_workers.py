"""A worker that dies at any step of claiming or re-queueing leaves no point lost or doubled;
a pruned trial leaves a run with status "pruned"."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from nas.core.data import DataConfig
from nas.core.trainer import TrainConfig
from nas.engines import SearchConfig, SearchJob, run_search
from nas.engines.session import open_search
from nas.engines.strategies import _claim_waiting, enqueue_grid
from nas.engines.worker import DEAD_WORKER, requeue_dead_trials, work
from storage import get_run, list_runs
from tests.engines.support import CHEAP_ARCHS, complete_per_arch, write_tiny_folder

ARCHS = tuple(CHEAP_ARCHS[:3])


@pytest.fixture
def session(tmp_path, monkeypatch):
    """A grid search over three cheap points on a SQLite file, enqueued, nothing run."""
    monkeypatch.setenv("NAS_CACHE", str(tmp_path / "cache"))
    data = DataConfig(path=str(write_tiny_folder(tmp_path / "data")))
    job = SearchJob(f"sqlite:///{tmp_path / 'nas.db'}", data,
                    SearchConfig(ipc=4, strategy="grid", archs=ARCHS, heartbeat_seconds=60,
                                 train=TrainConfig(epochs=1)))
    session = open_search(job)
    with session.lock():
        enqueue_grid(session)
    return session


def _finish(session) -> None:
    run_search(session.job, progress=False)
    study = session.study
    assert complete_per_arch(study) == {arch: 1 for arch in ARCHS}
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


def test_trial_claimed_without_a_heartbeat_is_requeued_at_once(session):
    with session.lock():
        trial = _claim_waiting(session)  # the claimer dies here, before its first heartbeat
    with session.lock():
        requeue_dead_trials(session)
    study = session.study
    dead = study.trials[trial.number]
    assert dead.state == TrialState.FAIL and dead.system_attrs[DEAD_WORKER]
    (copy,) = [t for t in study.trials if t.system_attrs.get("failed_trial") == trial.number]
    assert copy.state == TrialState.WAITING
    assert copy.system_attrs["fixed_params"] == dead.system_attrs["fixed_params"]
    assert DEAD_WORKER not in copy.system_attrs  # a real failure of the copy is not retried
    _finish(session)


def test_requeue_interrupted_between_fail_and_copy_queues_exactly_one_copy(session):
    with session.lock():
        trial = _claim_waiting(session)
    tid = trial._trial_id
    session.storage.set_trial_system_attr(tid, DEAD_WORKER, True)  # then the re-queuer dies
    session.storage.set_trial_state_values(tid, TrialState.FAIL)
    for _ in range(2):  # restarted workers enqueue the grid and repair it, once
        with session.lock():
            enqueue_grid(session)
            requeue_dead_trials(session)
    assert len(session.study.trials) == len(ARCHS) + 1
    copies = [t for t in session.study.trials
              if t.system_attrs.get("failed_trial") == trial.number]
    assert len(copies) == 1
    _finish(session)


def test_trial_with_a_live_heartbeat_is_left_alone(session):
    with session.lock():
        trial = _claim_waiting(session)
        session.storage.record_heartbeat(trial._trial_id)
    with session.lock():
        requeue_dead_trials(session)
    assert session.study.trials[trial.number].state == TrialState.RUNNING
    assert len(session.study.trials) == len(ARCHS)


def test_genuinely_failed_trial_is_not_retried(session):
    with session.lock():
        trial = _claim_waiting(session)
        session.storage.record_heartbeat(trial._trial_id)
    session.study.tell(trial, state=TrialState.FAIL)  # an error in training, not a death
    with session.lock():
        requeue_dead_trials(session)
    assert len(session.study.trials) == len(ARCHS)


def test_pruned_training_writes_a_pruned_run(session):
    def prune(epoch: int, val_acc: float) -> None:
        raise optuna.TrialPruned(f"epoch {epoch}")

    config = TrainConfig(epochs=3, report_every=1)
    evaluator = session.evaluator
    with pytest.raises(optuna.TrialPruned):
        evaluator.evaluate("convnet720", ARCHS[0], config, 0, search_id=session.search_id,
                           on_epoch=prune)
    (run,) = [r for r in list_runs(session.db, search_id=session.search_id)
              if r.arch_id == ARCHS[0]]
    assert (run.status, run.epochs, run.test_acc) == ("pruned", 1, None)
    assert run.val_acc is not None and run.search_id == session.search_id
    finished = evaluator.evaluate("convnet720", ARCHS[0], config, 0)  # retrained, replaced
    assert finished.status == "finished" and get_run(session.db, run.key).status == "finished"



class _AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


def test_pruned_grid_trials_leave_pruned_runs_under_their_run_key(tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_CACHE", str(tmp_path / "cache"))
    data = DataConfig(path=str(write_tiny_folder(tmp_path / "data")))
    job = SearchJob(f"sqlite:///{tmp_path / 'nas.db'}", data,
                    SearchConfig(ipc=4, strategy="grid", archs=ARCHS, prune="median",
                                 train=TrainConfig(epochs=2, report_every=1)))
    session = open_search(job)
    session.study.pruner = _AlwaysPrune()
    with session.lock():
        enqueue_grid(session)
    work(session, _claim_waiting)
    trials = session.study.get_trials()
    assert [t.state for t in trials] == [TrialState.PRUNED] * len(ARCHS)
    runs = {r.key: r for r in list_runs(session.db, search_id=session.search_id)}
    assert {(runs[t.user_attrs["run_key"]].status, runs[t.user_attrs["run_key"]].epochs)
            for t in trials} == {("pruned", 1)}
