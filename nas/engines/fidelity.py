"""What a search can measure about an architecture, and what each measurement is charged.

A fidelity is named by a string:
- a zero-cost score (``params``, ``flops``, ``synflow``, ``naswot``, ``grad_norm``);
- ``ensemble``: the rank sum of params + synflow + NASWOT (``nas.analysis.ensemble``);
- ``train``: the search's proxy training protocol, scored by final validation accuracy;
  ``train:<epochs>`` the same protocol cut to that many epochs;
- ``full:<epochs>``: the same protocol on the whole training split for that many epochs
  (reduced training, the baseline a data proxy must beat).

Every measurement is cached in the toolkit's database (zero-cost scores by dataset,
architecture and method; runs by their run key) and is charged the seconds it took when it
was first measured, so a search that finds it cached still pays for it, as tabular NAS
benchmarks simulate time. Rank-based scores (the ensemble) only compare the architectures
given together: ``order`` ranks a group, it never reads a score on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from nas.analysis.ensemble import DEFAULT_MEMBERS, rank_ensemble
from nas.analysis.zero_cost import ZERO_COST_METHODS, ZeroCostConfig, iter_scores
from nas.core.outcome import run_accuracy
from nas.engines.fidelity_names import ENSEMBLE, FULL, TRAIN

if TYPE_CHECKING:
    from nas.engines.session import SearchSession

VAL_ACC = "val_acc"


@dataclass(frozen=True)
class Measurement:
    """Scores of one architecture at one fidelity (None: undefined) and its charged seconds."""

    values: dict[str, float | None]
    seconds: float


def zero_cost_members(name: str) -> tuple[str, ...]:
    """The zero-cost methods a fidelity needs (none for training)."""
    if name == ENSEMBLE:
        return DEFAULT_MEMBERS
    return (name,) if name in ZERO_COST_METHODS else ()


def measure(session: SearchSession, arch_id: str, name: str) -> Measurement:
    """Measure ``arch_id`` at fidelity ``name`` (cached; the charge is the first cost).

    Training uses the search's proxy (``full:<epochs>``: the whole training split) and
    protocol (``<epochs>`` cuts the epochs) with the search's training seed; a diverged run
    scores chance accuracy.
    """
    config = session.config
    if zero_cost_members(name):
        return measure_zero_cost(session, [arch_id], name)[arch_id]
    head, _, epochs = name.partition(":")
    train = replace(config.train, epochs=int(epochs)) if epochs else config.train
    evaluator = session.full_evaluator if head == FULL else session.evaluator
    run = evaluator.evaluate(config.space, arch_id, train, config.training_seed,
                                     search_id=session.search_id)
    value = run_accuracy(run.status, run.val_acc, session.data.num_classes)
    return Measurement({VAL_ACC: value}, run.wall_seconds)


def measure_zero_cost(session: SearchSession, arch_ids: list[str], name: str
                      ) -> dict[str, Measurement]:
    """``measure`` of each of ``arch_ids`` at the zero-cost fidelity ``name``, in one pass
    over the score cache (``iter_scores`` commits as it goes, so an interrupted batch
    resumes from its last commit)."""
    values: dict[str, dict[str, float | None]] = {a: {} for a in arch_ids}
    seconds = dict.fromkeys(arch_ids, 0.0)
    for r in iter_scores(session.db, session.data, session.dataset, session.config.space,
                         arch_ids, list(zero_cost_members(name)), ZeroCostConfig()):
        values[r.arch_id][r.method] = r.value
        seconds[r.arch_id] += r.wall_seconds
    return {a: Measurement(values[a], seconds[a]) for a in arch_ids}


def order(name: str, measured: dict[str, dict[str, float | None]]) -> dict[str, float]:
    """A comparable score (higher = better) of each architecture in ``measured``
    (architecture -> the ``values`` of its measurement at fidelity ``name``), relative to
    this group only. An undefined score ranks below every defined one."""
    if name == ENSEMBLE:
        by_member = {m: {a: v[m] for a, v in measured.items()} for m in DEFAULT_MEMBERS}
        ranked = rank_ensemble(by_member) if len(measured) > 0 else {}
        return {a: ranked.get(a, -math.inf) for a in measured}
    key = VAL_ACC if name.partition(":")[0] in (TRAIN, FULL) else name
    return {a: v[key] if v[key] is not None and math.isfinite(v[key]) else -math.inf
            for a, v in measured.items()}


def best(name: str, measured: dict[str, dict[str, float | None]]) -> str:
    """The best architecture of ``measured`` at fidelity ``name`` (ties: smallest id)."""
    scores = order(name, measured)
    return min(scores, key=lambda a: (-scores[a], a))
