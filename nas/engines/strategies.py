"""Search strategies, registered by name: how trials are handed out to workers."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.trial import TrialState

from nas.core.data import PreparedData
from nas.engines import evolution
from nas.engines.config import SearchConfig
from nas.engines.session import SearchSession
from nas.engines.study import arch_id_of, arch_params, architecture_pool, retrying
from nas.engines.worker import DEAD_WORKER, FINISHED, TrialDone, ask, count, work
from nas.registry import Registry
from search_spaces import get_space

ALIVE = (TrialState.WAITING, TrialState.RUNNING, *FINISHED)  # a point with one is not re-queued


@dataclass(frozen=True)
class Strategy:
    """How a search hands out trials. ``check`` validates the search against the data before
    the database is touched; ``prepare`` runs in every worker under the study lock before
    ``run``; ``run`` evaluates trials until the search is done and returns how many
    this worker evaluated; ``total`` is the number of trials the finished search holds."""

    name: str
    description: str
    run: Callable[[SearchSession, TrialDone | None], int]
    total: Callable[[SearchSession], int]
    prepare: Callable[[SearchSession], None] = lambda session: None
    check: Callable[[SearchConfig, PreparedData], None] = lambda config, data: None
    parallel: bool = True  # several workers (processes, hosts) may share one study


STRATEGIES: Registry[Strategy] = Registry("strategy")


def register_strategy(strategy: Strategy) -> Strategy:
    """File ``strategy`` under its name (a call, not a decorator: it takes a ``Strategy``)."""
    return STRATEGIES.add(strategy.name, strategy)


def list_strategies(pattern: str = "*") -> list[str]:
    return STRATEGIES.names(pattern)


def get_strategy(name: str) -> Strategy:
    """Raises UnknownNameError listing the registered strategies."""
    return STRATEGIES.get(name)


# --- grid: every point enqueued once, popped atomically by whichever worker is free ---

def grid_points(config: SearchConfig) -> list[str]:
    return list(architecture_pool(config.space, tuple(config.archs)))


def check_grid(config: SearchConfig, data: PreparedData) -> None:
    """Every grid point must run on the data's image size (fail before any training)."""
    space = get_space(config.space)
    for arch_id in grid_points(config):
        space.check_input_size(space.parse(arch_id), data.im_size)


def _trial_arch(trial: optuna.trial.FrozenTrial, session: SearchSession) -> str | None:
    params = trial.system_attrs.get("fixed_params", trial.params)
    return arch_id_of(get_space(session.config.space), params) if params else None


def enqueue_grid(session: SearchSession) -> None:
    """Enqueue each grid point that has no waiting, running or finished trial yet (a point
    whose trial failed is enqueued again, so a re-run resumes an interrupted grid). A trial
    failed because its worker died covers its point: ``requeue_dead_trials`` copies it."""
    study = session.study
    covered = {_trial_arch(t, session) for t in study.get_trials(deepcopy=False)
               if t.state in ALIVE or t.system_attrs.get(DEAD_WORKER)}
    space = get_space(session.config.space)
    for arch_id in grid_points(session.config):
        if arch_id not in covered:
            retrying(lambda a=arch_id: study.enqueue_trial(arch_params(space, a)), session.url)


def _claim_waiting(session: SearchSession) -> optuna.Trial | None:
    """Under the study lock: pop a WAITING trial, or None when the queue is empty."""
    if count(session.study, TrialState.WAITING) == 0:
        return None
    return ask(session.study)


register_strategy(Strategy(
    "grid", "every listed architecture (default: the whole space) exactly once",
    run=lambda session, on_done: work(session, _claim_waiting, on_done),
    total=lambda session: len(grid_points(session.config)),
    prepare=enqueue_grid, check=check_grid))


# --- tpe: Optuna's TPE sampler, budget of --trials finished or running trials ---

def _tpe_sampler(seed: int) -> optuna.samplers.TPESampler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # constant_liar
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def _claim_tpe(session: SearchSession) -> optuna.Trial | None:
    """Under the study lock: a re-queued trial first, then a new TPE suggestion while fewer
    than ``trials`` are finished or running. The sampler's seed is (seed, trial number), so
    one worker reproduces its suggestions exactly."""
    study = session.study
    trials = study.get_trials(deepcopy=False)
    waiting = any(t.state == TrialState.WAITING for t in trials)
    used = sum(t.state in (TrialState.RUNNING, *FINISHED) for t in trials)
    if not waiting and used >= session.config.trials:
        return None
    study.sampler = _tpe_sampler(session.config.seed * 100_003 + len(trials))
    return ask(study)


register_strategy(Strategy(
    "tpe", "Optuna's Tree-structured Parzen Estimator over the space's factors",
    run=lambda session, on_done: work(session, _claim_tpe, on_done),
    total=lambda session: session.config.trials))


# --- rea and sh: measure fidelities (zero-cost scores, proxy training), nas.engines.evolution

register_strategy(Strategy(
    "rea", "regularized evolution (Real et al. 2019) on --rea-score: tournament of "
    "--tournament among the --population latest, the winner mutated in one factor",
    run=lambda session, on_done: work(session, evolution.claim_rea, on_done,
                                      evolution.measure_trial),
    total=lambda session: session.config.trials))

register_strategy(Strategy(
    "sh", "successive halving up --fidelities (e.g. ensemble, train:10, full:1): --bracket "
    "random architectures, the best 1/--eta promoted per rung, brackets until the budget",
    run=lambda session, on_done: work(session, evolution.claim_sh, on_done,
                                      evolution.measure_trial, evolution.batch_sh),
    total=lambda session: session.config.trials))
