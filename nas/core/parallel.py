"""One worker process per core, one torch thread each, for evaluating many architectures.

On a CPU, several small networks trained side by side in 1-thread processes use the cores
better than one process whose ops are split over all cores (docs/speed.md#this-machine).
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.pool import Pool

from nas.core.runtime import configure
from nas.errors import InputError


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_workers(workers: int) -> int:
    """``workers`` if at least 1; else InputError naming the --workers flag."""
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    return workers


_SHARED: dict = {}


def _start_worker(threads: int, shared: dict) -> None:
    configure(threads)
    _SHARED.update(shared)


def shared_data() -> dict:
    """In a ``worker_pool`` worker: the ``shared`` objects the pool was made with."""
    return _SHARED


def worker_pool(workers: int, *, threads_per_worker: int | None = None,
                shared: dict | None = None) -> Pool:
    """A pool of fresh (spawned) processes, each with the tuned allocator.

    Args:
        workers: number of processes (>= 1).
        threads_per_worker: torch threads per process; default ``cores // workers``, at
            least 1, so the pool never oversubscribes the cores.
        shared: objects (e.g. the training tensors) sent once to every worker, where
            ``shared_data()`` returns them, instead of with every task.

    Returns:
        A ``multiprocessing.pool.Pool``; use it as a context manager.

    Raises:
        InputError: ``workers`` < 1.
    """
    check_workers(workers)
    threads = threads_per_worker or max(1, cpu_cores() // workers)
    return multiprocessing.get_context("spawn").Pool(workers, initializer=_start_worker,
                                                     initargs=(threads, shared or {}))
