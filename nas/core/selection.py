"""Choosing which architectures of a space to evaluate."""

from __future__ import annotations

import dataclasses

import numpy as np

from nas.errors import InputError
from search_spaces import SearchSpace


def parse_where(clauses: list[str] | None) -> dict[str, set[str]]:
    """``["width=32,64", "pooling=avg"]`` -> ``{"width": {"32", "64"}, "pooling": {"avg"}}``."""
    where: dict[str, set[str]] = {}
    for clause in clauses or []:
        name, sep, values = clause.partition("=")
        if not sep or not values:
            raise InputError(f"bad filter {clause!r}: expected FACTOR=V1,V2 (e.g. width=32,64)")
        where[name.strip()] = {v.strip() for v in values.split(",")}
    return where


def filter_specs(specs: list, where: dict[str, set[str]]) -> list:
    """Keep the specs whose factors take one of the allowed values."""
    if not specs or not where:
        return specs
    fields = {f.name for f in dataclasses.fields(specs[0])}
    unknown = set(where) - fields
    if unknown:
        raise InputError(
            f"unknown factor(s) {sorted(unknown)} in filter; factors: {sorted(fields)}")
    kept = [s for s in specs if all(str(getattr(s, k)) in v for k, v in where.items())]
    if not kept:
        raise InputError(f"filter {where} matches no architecture of the space")
    return kept


def stratified_sample(specs: list, n: int, seed: int) -> list[str]:
    """``n`` distinct architectures from ``specs`` in which every level of every factor appears
    as evenly as possible (each level present once ``n`` >= the largest level count)."""
    if n >= len(specs):
        return [s.id for s in specs]
    rng = np.random.default_rng(seed)
    fields = [f.name for f in dataclasses.fields(specs[0])]
    levels = {f: sorted({getattr(s, f) for s in specs}, key=str) for f in fields}
    allowed = {s.id for s in specs}
    chosen: dict[str, None] = {}
    for _ in range(1000):  # bounded: each round fills what's missing with a balanced draw
        need = n - len(chosen)
        if need == 0:
            break
        columns = {f: rng.permutation(np.resize(rng.permutation(len(levels[f])), need))
                   for f in fields}
        for i in range(need):
            spec = type(specs[0])(**{f: levels[f][columns[f][i]] for f in fields})
            if spec.id in allowed:
                chosen.setdefault(spec.id)
    rest = [s.id for s in rng.permutation(np.array(specs, dtype=object)) if s.id not in chosen]
    return (list(chosen) + rest)[:n]


def select_architectures(space: SearchSpace, *, archs: list[str] | None = None,
                         sample: int | None = None, where: list[str] | None = None,
                         seed: int = 0) -> list[str]:
    """Explicit ids (validated), else a stratified sample of the (filtered) space, else all.

    Raises:
        InputError: a malformed id or filter, a negative seed, or ``sample`` outside
            1..(architectures left after the filter).
    """
    if seed < 0:
        raise InputError(f"--seed must be >= 0, got {seed}")
    if archs:
        return [space.parse(a).id for a in archs]
    specs = filter_specs(space.enumerate(), parse_where(where))
    if sample is not None:
        if not 1 <= sample <= len(specs):
            scope = "matching --where" if where else "in the space"
            raise InputError(f"--sample {sample} must be between 1 and {len(specs)}, the "
                             f"architectures of {space.name} {scope}")
        return stratified_sample(specs, sample, seed)
    return [s.id for s in specs]
