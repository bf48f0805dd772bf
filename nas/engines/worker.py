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
from datetime import timedelta

import optuna
from optuna.exceptions import StorageInternalError, UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from nas.engines.objective import run_trial
from nas.engines.optuna_tables import running_heartbeats
from nas.engines.session import SearchSession
from nas.engines.study import GRACE_FACTOR, retrying

Claim = Callable[[SearchSession], optuna.Trial | None]
Objective = Callable[[SearchSession, optuna.Trial], float]  # a trial's value (may prune)
TrialDone = Callable[[optuna.trial.FrozenTrial], None]
Batch = Callable[[SearchSession], list[optuna.trial.FrozenTrial]]  # trials finished at once
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
IDLE_POLL_S = 5  # an idle worker re-checks for re-queued trials at most this often
DEAD_WORKER = "nas:dead_worker"  # system attribute of a trial failed because its worker died


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


def _dead_running_trials(session: SearchSession) -> list[optuna.trial.FrozenTrial]:
    """RUNNING trials whose worker is dead; call under the study lock. Dead: never beat (its
    claimer records the first heartbeat before releasing the lock, so under the lock a trial
    without one was claimed by a process that died in between), heartbeat older than the
    grace period (any host), or process gone (this host, sooner)."""
    now, beats = retrying(lambda: running_heartbeats(session.storage, session.study_id),
                          session.url)
    grace = timedelta(seconds=GRACE_FACTOR * session.config.heartbeat_seconds)
    running = session.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return [t for t in running if t._trial_id in beats and (
        beats[t._trial_id] is None or now - beats[t._trial_id] > grace or _owner_is_gone(t))]


def _has_retry(trials: list[optuna.trial.FrozenTrial], number: int) -> bool:
    return any(t.system_attrs.get("retry_history", [])[-1:] == [number] for t in trials)


def _enqueue_retry(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Queue a WAITING copy of ``trial`` (same parameters), with the system attributes of
    Optuna's RetryHeartbeatStaleTrialCallback (``failed_trial``: the first of the series,
    ``retry_history``), and without the dead-worker mark."""
    attrs = {k: v for k, v in trial.system_attrs.items() if k != DEAD_WORKER}
    attrs |= {"failed_trial": attrs.get("failed_trial", trial.number),
              "retry_history": [*attrs.get("retry_history", []), trial.number]}
    study.add_trial(optuna.create_trial(
        state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
        user_attrs=trial.user_attrs, system_attrs=attrs))


def requeue_dead_trials(session: SearchSession) -> None:
    """Fail RUNNING trials whose worker died and queue a WAITING copy of each with the same
    parameters; call under the study lock. Each step can be interrupted (this process killed
    too) and redone by the next caller without losing or doubling a point: a dead trial is
    first marked, then failed, then copied, and a marked FAIL trial without a copy gets one.
    A worker that was only stalled and finishes the trial first keeps its result (no copy)."""
    study, storage, url = session.study, session.storage, session.url
    for trial in _dead_running_trials(session):
        try:
            retrying(lambda t=trial: storage.set_trial_system_attr(t._trial_id, DEAD_WORKER,
                                                                   True), url)
            retrying(lambda t=trial: storage.set_trial_state_values(t._trial_id,
                                                                    TrialState.FAIL), url)
        except UpdateFinishedTrialError:  # it finished after all
            continue
    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        if trial.state == TrialState.FAIL and trial.system_attrs.get(DEAD_WORKER) \
                and not _has_retry(trials, trial.number):
            retrying(lambda t=trial: _enqueue_retry(study, t), url)


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
    holding the study lock, so that a RUNNING trial seen under the lock without a heartbeat
    is one whose claimer died before this point (``requeue_dead_trials`` re-queues it)."""
    if trial is not None:
        retrying(lambda: session.storage.record_heartbeat(trial_id(session, trial)),
                 session.url)
        retrying(lambda: trial.set_user_attr("worker", worker_name()), session.url)
    return trial


def evaluate_trial(session: SearchSession, trial: optuna.Trial,
                   objective: Objective = run_trial) -> optuna.trial.FrozenTrial:
    """Run ``objective`` on ``trial`` (already RUNNING) under a heartbeat and tell the study
    how it ended. Any error other than pruning marks the trial FAIL and is re-raised. A
    trial another worker already failed as stale (this process stalled past the grace
    period) keeps its FAIL: its re-queued copy counts, and finds this run stored instead of
    retraining."""
    study, url = session.study, session.url

    def tell(**outcome) -> optuna.trial.FrozenTrial:
        return retrying(lambda: study.tell(trial, skip_if_finished=True, **outcome), url)

    with heartbeat(session.storage, trial_id(session, trial), session.config.heartbeat_seconds):
        try:
            value = objective(session, trial)
        except optuna.TrialPruned:
            return tell(state=TrialState.PRUNED)
        except UpdateFinishedTrialError:  # failed as stale meanwhile: its re-queued copy counts
            return session.storage.get_trial(trial_id(session, trial))
        except BaseException:
            tell(state=TrialState.FAIL)
            raise
    return tell(values=value)


def work(session: SearchSession, claim: Claim, on_done: TrialDone | None = None,
         objective: Objective = run_trial, batch: Batch | None = None) -> int:
    """Evaluate trials handed out by ``claim`` until it returns None while no other worker's
    trial is still RUNNING (a dead worker's trial is re-queued once its heartbeat goes stale,
    so waiting for running trials is what makes every point finish). ``batch``, when given,
    runs under the study lock before each claim and may finish trials there at once (those
    too cheap to be worth a claim each); the claim waits until it returns none. Returns the
    number of trials this worker evaluated."""
    done = 0
    while True:
        with session.lock():
            requeue_dead_trials(session)
            finished = batch(session) if batch else []
            trial = None if finished else \
                claimed(session, retrying(lambda: claim(session), session.url))
        for frozen in finished:
            done += 1
            if on_done:
                on_done(frozen)
        if finished:
            continue
        if trial is None:
            if count(session.study, TrialState.RUNNING, TrialState.WAITING) == 0:
                return done
            time.sleep(min(IDLE_POLL_S, session.config.heartbeat_seconds))
            continue
        frozen = evaluate_trial(session, trial, objective)
        done += 1
        if on_done:
            on_done(frozen)
