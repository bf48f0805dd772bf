"""Choosing which architectures of a space to evaluate."""

from __future__ import annotations

import dataclasses

import numpy as np

from search_spaces import SearchSpace


def stratified_sample(space: SearchSpace, n: int, seed: int) -> list[str]:
    """``n`` distinct architectures in which every level of every factor appears as evenly as
    possible (each level present once ``n`` >= the largest factor's level count)."""
    specs = space.enumerate()
    if n >= len(specs):
        return [s.id for s in specs]
    rng = np.random.default_rng(seed)
    fields = [f.name for f in dataclasses.fields(specs[0])]
    levels = {f: sorted({getattr(s, f) for s in specs}, key=str) for f in fields}
    chosen: dict[str, None] = {}
    while len(chosen) < n:
        need = n - len(chosen)
        columns = {f: rng.permutation(np.resize(rng.permutation(len(levels[f])), need))
                   for f in fields}
        for i in range(need):
            spec = type(specs[0])(**{f: levels[f][columns[f][i]] for f in fields})
            chosen.setdefault(spec.id)
    return list(chosen)[:n]


def select_architectures(space: SearchSpace, *, archs: list[str] | None = None,
                         sample: int | None = None, seed: int = 0) -> list[str]:
    """Explicit ids (validated), a stratified sample, or the whole space."""
    if archs:
        return [space.parse(a).id for a in archs]
    if sample:
        return stratified_sample(space, sample, seed)
    return [s.id for s in space.enumerate()]
