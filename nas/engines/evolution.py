"""Regularized evolution and successive halving over fidelities, as Optuna studies.

Each trial measures one architecture at one fidelity (``nas.engines.fidelity``); what to
measure next is decided under the study lock from the study's trials alone, so a search
resumes after an interruption and several workers share it. Random choices draw from a
generator seeded by (search seed, trial count or bracket): one worker reproduces a search
exactly.

- ``rea`` (Real et al., AAAI 2019): the first ``population`` trials measure random
  architectures; then each trial samples ``sample`` of the ``population`` latest measured
  ones, mutates the best of them (one factor, e.g. one NAS-Bench-201 edge, set to another
  level) and measures the child; the oldest leave the population as children arrive.
- ``sh``, successive halving (Jamieson & Talwalkar, AISTATS 2016) over a ladder of
  fidelities: a bracket measures ``bracket`` random architectures at the first fidelity,
  promotes the best 1/``eta`` to the next, and so on; brackets repeat until the budget ends.

Both stop once ``trials`` are used (the last rung is then cut short) or finished trials were
charged ``cpu_budget`` seconds (rea at once, sh after the rung it started).
The architecture a search returns is ``incumbent``: the best at the highest fidelity any
architecture reached.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from nas.engines import fidelity
from nas.engines.optuna_tables import add_finished_trials
from nas.engines.session import SearchSession
from nas.engines.study import (
    arch_id_of,
    arch_params,
    architecture_pool,
    choices,
    retrying,
    suggest_arch,
)
from nas.engines.worker import FINISHED, ask, worker_name
from nas.errors import InputError
from search_spaces import InvalidArchitectureError, SearchSpace, get_space

FIDELITY, BRACKET, RUNG = "fidelity", "bracket", "rung"  # trial user attributes
VALUES, CHARGED = "values", "charged_seconds"
MAX_DRAWS = 1000  # random draws for an architecture valid at the data's image size


def measure_trial(session: SearchSession, trial: optuna.Trial) -> float:
    """Objective of rea/sh trials: measure the trial's architecture at its fidelity, store
    the scores and the charge as user attributes; the value is ``score_of`` the measurement."""
    arch_id = suggest_arch(trial, get_space(session.config.space), session.config.archs)
    name = trial.user_attrs[FIDELITY]
    measured = fidelity.measure(session, arch_id, name)
    for key, value in {"arch_id": arch_id, VALUES: measured.values,
                       CHARGED: measured.seconds}.items():
        trial.set_user_attr(key, value)
    return score_of(name, measured)


def score_of(name: str, measured: fidelity.Measurement) -> float:
    """A trial's value: the fidelity's own score (for the rank-based ensemble: the NASWOT
    member, as ranks need a group); -1e30 when undefined."""
    primary = measured.values.get("naswot") if name == fidelity.ENSEMBLE else \
        next(iter(measured.values.values()))
    return primary if primary is not None and math.isfinite(primary) else -1e30


def _complete(trials: Sequence[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials if t.state == TrialState.COMPLETE and CHARGED in t.user_attrs]


def charged(trials: Sequence[optuna.trial.FrozenTrial]) -> float:
    return sum(t.user_attrs[CHARGED] for t in _complete(trials))


def _spent(session: SearchSession, trials: Sequence[optuna.trial.FrozenTrial]) -> bool:
    """Whether the finished trials were charged the search's ``cpu_budget`` seconds."""
    budget = session.config.cpu_budget
    return budget > 0 and charged(trials) >= budget


def _left(session: SearchSession, trials: Sequence[optuna.trial.FrozenTrial], *,
          budget: bool = True) -> int:
    """Trials the search may still start: 0 once ``trials`` are used or (with ``budget``)
    the finished ones were charged ``cpu_budget`` seconds."""
    used = sum(t.state in (TrialState.RUNNING, *FINISHED) for t in trials)
    if budget and _spent(session, trials):
        return 0
    return max(0, session.config.trials - used)


def _valid(space: SearchSpace, arch_id: str, session: SearchSession) -> bool:
    if session.config.archs and arch_id not in session.config.archs:
        return False
    try:
        space.check_input_size(space.parse(arch_id), session.data.im_size)
    except InvalidArchitectureError:
        return False
    return True


def random_arch(session: SearchSession, rng: np.random.Generator,
                exclude: set[str] = frozenset()) -> str:
    """A uniformly drawn architecture of the search (its ``archs``, else the whole space)
    that runs on the data's image size and is not in ``exclude`` (if any such exists)."""
    space = get_space(session.config.space)
    pool = architecture_pool(session.config.space, tuple(session.config.archs))
    for _ in range(MAX_DRAWS):
        arch_id = pool[rng.integers(len(pool))]
        if arch_id not in exclude and _valid(space, arch_id, session):
            return arch_id
    raise InputError("no architecture of the search runs on this image size")


def mutate(session: SearchSession, arch_id: str, rng: np.random.Generator) -> str:
    """``arch_id`` with one factor (drawn uniformly) set to another of its levels (drawn
    uniformly): on NAS-Bench-201, one of the six edges gets another operation."""
    space = get_space(session.config.space)
    levels = choices(space, session.config.archs)
    params = arch_params(space, arch_id)
    mutable = [name for name, values in levels.items() if len(values) > 1]
    for _ in range(MAX_DRAWS):
        name = mutable[rng.integers(len(mutable))]
        others = [v for v in levels[name] if v != params[name]]
        child = arch_id_of(space, params | {name: others[rng.integers(len(others))]})
        if _valid(space, child, session):
            return child
    return arch_id


def _enqueue(session: SearchSession, arch_id: str, attrs: dict) -> None:
    space = get_space(session.config.space)
    retrying(lambda: session.study.enqueue_trial(arch_params(space, arch_id),
                                                 user_attrs={"arch_id": arch_id, **attrs}),
             session.url)


def _measured(trials: Sequence[optuna.trial.FrozenTrial]) -> dict[str, dict]:
    return {t.user_attrs["arch_id"]: t.user_attrs[VALUES] for t in trials}


def claim_rea(session: SearchSession) -> optuna.Trial | None:
    """Under the study lock: a re-queued trial, else the next rea child (see module)."""
    study, config = session.study, session.config
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return ask(study)
    if not _left(session, trials):
        return None
    rng = np.random.default_rng([config.seed, len(trials)])
    alive = [t for t in trials if t.state in (TrialState.RUNNING, TrialState.COMPLETE)]
    done = sorted(_complete(trials), key=lambda t: t.number)
    if len(alive) < config.population or not done:
        arch_id = random_arch(session, rng)
    else:
        population = done[-config.population:]
        picks = rng.choice(len(population), size=min(config.sample, len(population)),
                           replace=False)
        parent = fidelity.best(config.rea_score, _measured([population[i] for i in picks]))
        arch_id = mutate(session, parent, rng)
    _enqueue(session, arch_id, {FIDELITY: config.rea_score})
    return ask(study)


def _first_rung(session: SearchSession, bracket: int, seen: set[str]) -> list[str]:
    """The ``bracket`` architectures a bracket starts with (sorted), drawn from a generator
    seeded by (search seed, bracket) outside ``seen`` (those of earlier brackets)."""
    rng = np.random.default_rng([session.config.seed, bracket])
    picked: set[str] = set()
    for _ in range(session.config.bracket):
        picked.add(random_arch(session, rng, exclude=seen | picked))
    return sorted(picked)


def _planned(session: SearchSession, trials: Sequence[optuna.trial.FrozenTrial], bracket: int,
             rung: int) -> list[str]:
    """The architectures rung ``rung`` of ``bracket`` measures: the bracket's draw at rung
    0, else the best 1/eta of the finished rung below at its fidelity."""
    config = session.config
    if rung == 0:
        seen = {t.user_attrs["arch_id"] for t in trials
                if t.user_attrs.get(BRACKET, bracket) < bracket and "arch_id" in t.user_attrs}
        return _first_rung(session, bracket, seen)
    below = [t for t in _complete(trials)
             if (t.user_attrs[BRACKET], t.user_attrs[RUNG]) == (bracket, rung - 1)]
    scores = fidelity.order(config.fidelities[rung - 1], _measured(below))
    return sorted(scores, key=lambda a: (-scores[a], a))[:math.ceil(len(scores) / config.eta)]


def _next_rung(session: SearchSession, trials: Sequence[optuna.trial.FrozenTrial]
               ) -> tuple[int, int, list[str]] | None:
    """(bracket, rung, architectures not placed yet) of the rung sh measures next: the
    current rung while it has some left, else (once its trials finished) the next rung or
    a new bracket. None while the current rung waits for running trials, or when the
    ``cpu_budget`` is spent (checked between rungs: a started rung is finished)."""
    config = session.config
    placed = [t for t in trials if BRACKET in t.user_attrs]
    bracket = max((t.user_attrs[BRACKET] for t in placed), default=0)
    rung = max((t.user_attrs[RUNG] for t in placed if t.user_attrs[BRACKET] == bracket),
               default=0)
    cohort = [t for t in placed if (t.user_attrs[BRACKET], t.user_attrs[RUNG]) ==
              (bracket, rung)]
    created = {t.user_attrs["arch_id"] for t in cohort}
    todo = [a for a in _planned(session, trials, bracket, rung) if a not in created]
    if todo:
        return bracket, rung, todo
    if any(t.state == TrialState.RUNNING for t in cohort) or _spent(session, trials):
        return None
    bracket, rung = (bracket, rung + 1) if rung + 1 < len(config.fidelities) else \
        (bracket + 1, 0)
    return bracket, rung, _planned(session, trials, bracket, rung)


def claim_sh(session: SearchSession) -> optuna.Trial | None:
    """Under the study lock: a re-queued trial, else the next architecture of the rung sh
    measures next (``_next_rung``); None while a rung waits for running trials.

    Trials are queued one at a time (a rung is planned again from the finished trials on
    each claim), so the study never holds a rung's worth of waiting trials, which Optuna
    would read back on every claim."""
    study, config = session.study, session.config
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return ask(study)
    if not _left(session, trials, budget=False):
        return None
    step = _next_rung(session, trials)
    if step is None:
        return None
    bracket, rung, todo = step
    _enqueue(session, todo[0], {FIDELITY: config.fidelities[rung], BRACKET: bracket,
                                RUNG: rung})
    return ask(study)


def batch_sh(session: SearchSession) -> list[optuna.trial.FrozenTrial]:
    """Under the study lock, before ``claim_sh``: when the rung sh measures next is
    zero-cost, score its architectures left (up to the ``trials`` budget) as one batch and
    add one COMPLETE trial per architecture, as ``measure_trial`` would have made it, in one
    transaction. Returns them; [] when the next rung trains, waits, or trials are re-queued
    (``claim_sh`` hands those out one at a time).

    A zero-cost score costs less than a trial's own bookkeeping (claim, heartbeat, tell:
    tens of database commits), so one worker scores the rung while others wait for the
    lock. Killed mid-batch, it leaves the scores it committed and no trial: the next worker
    reads those scores back and adds the whole rung."""
    study, config = session.study, session.config
    trials = study.get_trials(deepcopy=False)
    left = _left(session, trials, budget=False)
    if not left or any(t.state == TrialState.WAITING for t in trials):
        return []
    step = _next_rung(session, trials)
    if step is None or not fidelity.zero_cost_members(config.fidelities[step[1]]):
        return []
    bracket, rung, todo = step
    name = config.fidelities[rung]
    space = get_space(config.space)
    distributions = {factor: CategoricalDistribution(levels)
                     for factor, levels in choices(space, config.archs).items()}
    measured = fidelity.measure_zero_cost(session, todo[:left], name)
    added = [optuna.trial.create_trial(
        params=arch_params(space, arch_id), distributions=distributions,
        value=score_of(name, m),
        user_attrs={FIDELITY: name, BRACKET: bracket, RUNG: rung, "arch_id": arch_id,
                    VALUES: m.values, CHARGED: m.seconds, "worker": worker_name()})
        for arch_id, m in measured.items()]
    retrying(lambda: add_finished_trials(session.storage, session.study_id, added), session.url)
    return added


def incumbent(trials: Sequence[optuna.trial.FrozenTrial], ladder: Sequence[str]
              ) -> str | None:
    """The architecture a search returns after ``trials``: the best, among those measured at
    the highest fidelity of ``ladder`` that any reached, at that fidelity; None if none."""
    done = _complete(trials)
    for name in reversed(ladder):
        level = [t for t in done if t.user_attrs[FIDELITY] == name]
        if level:
            return fidelity.best(name, _measured(level))
    return None


def anytime(trials: Sequence[optuna.trial.FrozenTrial], ladder: Sequence[str]
            ) -> list[tuple[float, str]]:
    """(charged seconds so far, returned architecture) after each completed trial, in the
    order trials completed; a point only where the returned architecture changes."""
    done = sorted(_complete(trials), key=lambda t: (t.datetime_complete, t.number))
    points: list[tuple[float, str]] = []
    spent = 0.0
    for i, trial in enumerate(done):
        spent += trial.user_attrs[CHARGED]
        chosen = incumbent(done[:i + 1], ladder)
        if chosen is not None and (not points or points[-1][1] != chosen):
            points.append((spent, chosen))
    return points
