"""One worker process per core, one torch thread each, for evaluating many architectures.

On a CPU, several small networks trained side by side in 1-thread processes use the cores
better than one process whose ops are split over all cores (docs/reference.md#this-machine).
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.pool import Pool

from nas.core.runtime import configure


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_pool(workers: int, *, threads_per_worker: int | None = None) -> Pool:
    """A pool of fresh (spawned) processes, each with the tuned allocator.

    Args:
        workers: number of processes (>= 1).
        threads_per_worker: torch threads per process; default ``cores // workers``, at
            least 1, so the pool never oversubscribes the cores.

    Returns:
        A ``multiprocessing.pool.Pool``; use it as a context manager.

    Raises:
        ValueError: ``workers`` < 1.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    threads = threads_per_worker or max(1, cpu_cores() // workers)
    return multiprocessing.get_context("spawn").Pool(workers, initializer=configure,
                                                     initargs=(threads,))
