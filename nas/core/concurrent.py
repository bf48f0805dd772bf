"""Several candidate networks trained at once on one device, to fill a GPU with tiny steps.

A proxy step of a small ConvNet leaves most of a GPU idle. Each job here runs the ordinary
``nas.core.trainer.train`` in its own Python thread and, on CUDA, on its own stream, so kernels of
different networks overlap; the data is copied to the device once and shared read-only. Each
job keeps its own generator, so results equal training the jobs one after another. On a CPU
prefer worker processes (``nas.core.parallel``): threads there only share the same cores.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace

import torch
from torch import nn

from nas.core.trainer import TensorPair, TrainConfig, TrainResult, train


@dataclass(frozen=True)
class TrainJob:
    """One candidate: a network factory, its protocol and its seed."""

    make_net: Callable[[], nn.Module]
    config: TrainConfig
    seed: int


def train_concurrently(jobs: Sequence[TrainJob], train_set: TensorPair, *,
                       eval_sets: dict[str, TensorPair] | None = None,
                       device: torch.device | str = "cpu", streams: int = 4
                       ) -> list[TrainResult]:
    """Train ``jobs`` with up to ``streams`` of them in flight at once.

    Args:
        jobs: candidates to train; each gets ``train(job.make_net, train_set, job.config,
            seed=job.seed, eval_sets=eval_sets, device=device)``.
        train_set: (float images (N, C, H, W), int64 labels), on any device; not mutated.
        eval_sets: named (images, labels) scored after training, as in ``train``.
        device: where to train; on CUDA each worker thread owns a stream.
        streams: jobs in flight at once (>= 1); 1 trains them one after another.

    Returns:
        One ``TrainResult`` per job, in the order of ``jobs``.

    Raises:
        ValueError: ``streams`` < 1.
    """
    if streams < 1:
        raise ValueError(f"streams must be at least 1, got {streams}")
    device = torch.device(device)
    shared = tuple(t.to(device) for t in train_set)
    evals = {k: (x.to(device), y.to(device)) for k, (x, y) in (eval_sets or {}).items()}
    local = threading.local()

    def own_stream():
        if device.type != "cuda":
            return nullcontext()
        if not hasattr(local, "stream"):  # one stream per worker thread
            local.stream = torch.cuda.Stream(device)
            local.stream.wait_stream(torch.cuda.current_stream(device))  # after the copies
        return torch.cuda.stream(local.stream)

    def run(job: TrainJob) -> TrainResult:
        config = job.config
        if streams > 1 and config.compile is None:  # threads share one Dynamo state:
            config = replace(config, compile=False)  # compile only where asked for
        with own_stream():
            return train(job.make_net, shared, config, seed=job.seed, eval_sets=evals,
                         device=device)

    if streams == 1:
        return [run(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=streams, thread_name_prefix="nas-train") as pool:
        return list(pool.map(run, jobs))
