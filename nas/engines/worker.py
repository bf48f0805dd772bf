"""The worker loop shared by Optuna strategies: claim a trial under the study lock, train it
while a heartbeat thread proves this process alive, tell the result; repeat until the study
has nothing left to hand out and nothing running elsewhere."""

from __future__ import annotations

import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import optuna
from optuna.exceptions import ExperimentalWarning, StorageInternalError, UpdateFinishedTrialError
from optuna.storages import RDBStorage, fail_stale_trials
from optuna.trial import TrialState

from nas.engines.objective import run_trial
from nas.engines.session import SearchSession
from nas.engines.study import retrying

Claim = Callable[[SearchSession], optuna.Trial | None]
TrialDone = Callable[[optuna.trial.FrozenTrial], None]
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
IDLE_POLL_S = 5  # an idle worker re-checks for re-queued trials at most this often


@contextmanager
def heartbeat(storage: RDBStorage, trial_id: int, seconds: int) -> Iterator[None]:
    """Record the trial's heartbeat every ``seconds`` while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                storage.record_heartbeat(trial_id)
            except StorageInternalError:  # a locked SQLite file: beat again next time
                pass
            if stop.wait(seconds):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_is_gone(trial: optuna.trial.FrozenTrial) -> bool:
    """True only when the trial's worker ran on this host and its process no longer exists."""
    host, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return False


def requeue_dead_trials(session: SearchSession) -> None:
    """Fail RUNNING trials whose worker died and put each back as a WAITING trial with the
    same parameters (Optuna's retry callback); call under the study lock. A worker is dead
    when its heartbeat is stale (any host) or, sooner, when its process is gone (this host)."""
    study, storage = session.study, session.storage
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        retrying(lambda: fail_stale_trials(study), session.url)
    retry = storage.get_heartbeat_stale_trial_callback()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _owner_is_gone(trial):
            continue
        tid = trial_id(session, trial)
        try:
            failed = retrying(lambda t=tid: storage.set_trial_state_values(t, TrialState.FAIL),
                              session.url)
        except UpdateFinishedTrialError:  # it finished after all
            continue
        if failed and retry is not None:
            retry(study, storage.get_trial(tid))


def ask(study: optuna.Study, **kwargs) -> optuna.Trial:
    """``study.ask`` without Optuna's note that heartbeats are meant for ``optimize`` (this
    module runs the heartbeat thread itself)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage", category=UserWarning)
        return study.ask(**kwargs)


def count(study: optuna.Study, *states: TrialState) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def trial_id(session: SearchSession, trial: optuna.Trial) -> int:
    return session.storage.get_trial_id_from_study_id_trial_number(session.study_id,
                                                                   trial.number)


def claimed(session: SearchSession, trial: optuna.Trial | None) -> optuna.Trial | None:
    """Record a just-claimed trial's first heartbeat and its worker (host:pid) while still
    holding the study lock: Optuna never takes a RUNNING trial without a heartbeat for dead."""
    if trial is not None:
        retrying(lambda: session.storage.record_heartbeat(trial_id(session, trial)),
                 session.url)
        retrying(lambda: trial.set_user_attr("worker", worker_name()), session.url)
    return trial


def evaluate_trial(session: SearchSession, trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    """Run ``trial`` (already RUNNING) under a heartbeat and tell the study how it ended.
    Any error other than pruning marks the trial FAIL and is re-raised. A trial another
    worker already failed as stale (this process stalled past the grace period) keeps its
    FAIL: its re-queued copy counts, and finds this run stored instead of retraining."""
    study, url = session.study, session.url

    def tell(**outcome) -> optuna.trial.FrozenTrial:
        return retrying(lambda: study.tell(trial, skip_if_finished=True, **outcome), url)

    with heartbeat(session.storage, trial_id(session, trial), session.config.heartbeat_seconds):
        try:
            value = run_trial(session, trial)
        except optuna.TrialPruned:
            return tell(state=TrialState.PRUNED)
        except BaseException:
            tell(state=TrialState.FAIL)
            raise
    return tell(values=value)


def work(session: SearchSession, claim: Claim, on_done: TrialDone | None = None) -> int:
    """Evaluate trials handed out by ``claim`` until it returns None while no other worker's
    trial is still RUNNING (a dead worker's trial is re-queued once its heartbeat goes stale,
    so waiting for running trials is what makes every point finish). Returns the number of
    trials this worker evaluated."""
    done = 0
    while True:
        with session.lock():
            requeue_dead_trials(session)
            trial = claimed(session, retrying(lambda: claim(session), session.url))
        if trial is None:
            if count(session.study, TrialState.RUNNING, TrialState.WAITING) == 0:
                return done
            time.sleep(min(IDLE_POLL_S, session.config.heartbeat_seconds))
            continue
        frozen = evaluate_trial(session, trial)
        done += 1
        if on_done:
            on_done(frozen)
