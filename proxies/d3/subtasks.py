"""Subtask decomposition (D3 'federated distillation'): split the classes into groups and run
one job per group in its own spawned worker process."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import numpy as np

from nas.errors import InputError

J = TypeVar("J")
R = TypeVar("R")


def split_classes(num_classes: int, groups: int) -> list[list[int]]:
    """Contiguous, near-equal class groups, e.g. 10 classes in 3 groups -> 4, 3, 3.

    Raises:
        InputError: if ``groups`` is not in 1..num_classes.
    """
    if not 1 <= groups <= num_classes:
        raise InputError(f"--subtasks must be between 1 and the number of classes "
                         f"({num_classes}), got {groups}")
    return [chunk.tolist() for chunk in np.array_split(np.arange(num_classes), groups)]


def run_parallel(fn: Callable[[J], R], jobs: Sequence[J], *, workers: int) -> list[R]:
    """``[fn(job) for job in jobs]`` in ``workers`` spawned processes (in this process when
    there is a single job). ``fn`` must be importable (module-level) and jobs picklable."""
    if len(jobs) == 1:
        return [fn(jobs[0])]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(fn, jobs))
