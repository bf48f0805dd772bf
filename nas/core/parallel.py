"""Worker processes that train many architectures at once, on the CPU or sharing one GPU.

On a CPU, several small networks trained side by side in 1-thread processes use the cores
better than one process whose ops are split over all cores (docs/speed.md#this-machine). On
CUDA the same processes share the GPU: a small network on a proxy set leaves it mostly idle
(its steps are short and launched one by one from Python), and each process fills the gaps
the others leave (docs/speed.md#many-candidates-at-once).
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from multiprocessing.pool import Pool

import torch

from nas.core.runtime import configure
from nas.errors import InputError

# Processes sharing one GPU by default: the one GPU run so far (an H200) kept 8-10 busy;
# `nas bench speed` on CUDA measures one at a time against this many (docs/speed.md)
GPU_WORKERS = 8


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


@dataclass(frozen=True)
class Placement:
    """Where candidates train: a device, the worker processes sharing it, torch threads each."""

    device: torch.device
    workers: int
    threads: int


def placement(device: torch.device, workers: int | None = None) -> Placement:
    """How ``--workers`` (None: the device's default) trains on ``device``: on a CPU one
    process per core (default all cores), one thread each; elsewhere (CUDA) GPU_WORKERS
    processes sharing the device by default, the cores split between them (their threads
    launch kernels and score on the host).

    Raises:
        InputError: ``workers`` < 1.
    """
    if device.type == "cpu":
        return Placement(device, check_workers(cpu_cores() if workers is None else workers), 1)
    workers = check_workers(GPU_WORKERS if workers is None else workers)
    return Placement(device, workers, max(1, cpu_cores() // workers))


_SHARED: dict = {}


def _on(obj, device: torch.device | None):
    """``obj`` (tensors in nested dicts, tuples and lists) with every tensor on ``device``."""
    if device is None:
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _on(v, device) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return type(obj)(_on(v, device) for v in obj)
    return obj


def _start_worker(threads: int, shared: dict, device: torch.device | None) -> None:
    configure(threads)
    _SHARED.update(_on(shared, device))


def shared_data() -> dict:
    """In a ``worker_pool`` worker: the ``shared`` objects the pool was made with."""
    return _SHARED


def worker_pool(workers: int, *, threads_per_worker: int | None = None,
                shared: dict | None = None, device: torch.device | None = None) -> Pool:
    """A pool of fresh (spawned) processes, each with the tuned allocator.

    Args:
        workers: number of processes (>= 1).
        threads_per_worker: torch threads per process; default ``cores // workers``, at
            least 1, so the pool never oversubscribes the cores.
        shared: objects (e.g. the training tensors) sent once to every worker, where
            ``shared_data()`` returns them, instead of with every task.
        device: where each worker keeps the tensors of ``shared`` (None: as sent, on the
            CPU); one copy per worker, made once.

    Returns:
        A ``multiprocessing.pool.Pool``; use it as a context manager.

    Raises:
        InputError: ``workers`` < 1.
    """
    check_workers(workers)
    threads = threads_per_worker or max(1, cpu_cores() // workers)
    return multiprocessing.get_context("spawn").Pool(
        workers, initializer=_start_worker, initargs=(threads, shared or {}, device))
