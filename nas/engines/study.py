"""Optuna side of a search: storage on the project's database, study names, trial params."""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from functools import cache
from typing import TypeVar

import optuna
from optuna.exceptions import ExperimentalWarning, StorageInternalError
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from search_spaces import SearchSpace, get_space
from storage import is_sqlite, optuna_engine_kwargs

T = TypeVar("T")
GRACE_FACTOR = 2  # a RUNNING trial silent for 2 heartbeats is failed (Optuna's default grace)


def make_storage(url: str, heartbeat_seconds: int) -> RDBStorage:
    """Optuna RDB storage on the toolkit's database URL, with heartbeats: a trial whose worker
    died is failed after ``GRACE_FACTOR * heartbeat_seconds`` and re-queued (as WAITING with
    the same parameters) by the next worker that checks for stale trials."""
    kwargs = optuna_engine_kwargs(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeats are "experimental"
        return RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=heartbeat_seconds,
                          grace_period=GRACE_FACTOR * heartbeat_seconds,
                          heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback())


def retrying(fn: Callable[[], T], url: str, attempts: int = 8) -> T:
    """Call ``fn``; on SQLite retry 'database is locked' errors with exponential backoff
    (a WAL reader upgrading to writer fails at once instead of waiting for the busy timeout)."""
    for attempt in range(attempts):
        try:
            return fn()
        except StorageInternalError:
            if not is_sqlite(url) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2 ** attempt)
    raise AssertionError("unreachable")


def default_study_name(space: str, proxy_label: str, strategy: str, seed: int) -> str:
    """``<space>/<proxy label>/<strategy>/seed<seed>``, e.g. convnet720/random-ipc50/tpe/seed0."""
    return f"{space}/{proxy_label}/{strategy}/seed{seed}"


@cache
def architecture_pool(space: str, archs: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The architectures a search runs over: ``archs``, else every one of the space (cached:
    enumerating NAS-Bench-201 takes ~0.2 s, and rea/sh draw from it on every claim)."""
    return archs or tuple(spec.id for spec in get_space(space).enumerate())


@cache
def choices(space: SearchSpace, archs: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Every factor with its levels in enumeration order, over ``archs`` (default: the whole
    space). These are the distributions trials suggest from, so the dashboard's importance
    and slice plots see each factor."""
    specs = [space.parse(a) for a in archs] if archs else space.enumerate()
    levels: dict[str, dict] = {f.name: {} for f in dataclasses.fields(specs[0])}
    for spec in specs:
        for name, value in spec.params().items():
            levels[name].setdefault(value)
    return {name: tuple(values) for name, values in levels.items()}


def arch_params(space: SearchSpace, arch_id: str) -> dict:
    return space.parse(arch_id).params()


@cache
def _spec_type(space: SearchSpace) -> type:
    return type(space.enumerate()[0])


def arch_id_of(space: SearchSpace, params: dict) -> str:
    """The id of the architecture with factor values ``params``."""
    return _spec_type(space)(**params).id


def suggest_arch(trial: optuna.Trial, space: SearchSpace, archs: tuple[str, ...] = ()) -> str:
    """Suggest every factor categorically (levels of ``archs``, default the whole space) and
    return the architecture id."""
    return arch_id_of(space, {name: trial.suggest_categorical(name, values)
                              for name, values in choices(space, archs).items()})
