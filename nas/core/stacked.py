"""Several seeds of one architecture trained in one step (``torch.func``: stacked weights +
``vmap``).

Each seed follows exactly the stream ``nas.core.trainer.train`` gives it (initial weights,
batch order, DSA draws, SGD with momentum and weight decay, the lr step with a fresh
optimiser), so a stacked run is the same experiment as the one-at-a-time runs; only the
kernels differ (batched convolutions). BatchNorm keeps one set of running statistics per seed.
Measured on 2 CPU cores it is slower than training the seeds one after another (batched
convolutions run as grouped ones; benchmarks/results/README.md). The product does not train
with it: only ``nas bench speed --mix`` measures it (its seed-repeat rows); many candidates at
once run in worker processes (``nas.core.parallel``) on a CPU and on CUDA alike.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from nas.core.augment import DSA, DSAConfig
from nas.core.outcome import RunStatus
from nas.core.trainer import (
    CPU_EVAL_BATCH,
    TensorPair,
    TrainConfig,
    TrainResult,
    build_seeded,
    evaluate,
    uses_bf16,
)


def unstack(make_net: Callable[[], nn.Module], params: dict, buffers: dict,
            index: int) -> nn.Module:
    """Network ``index`` of a stack, as an ordinary module (a copy of its slice)."""
    net = build_seeded(make_net, 0)  # weights replaced below; global RNG untouched
    state = {name: t[index].detach().clone() for name, t in {**params, **buffers}.items()}
    net.load_state_dict(state)
    return net


def train_stacked(make_net: Callable[[], nn.Module], train_set: TensorPair,
                  config: TrainConfig, *, seeds: Sequence[int],
                  eval_sets: dict[str, TensorPair] | None = None,
                  device: torch.device | str = "cpu") -> list[TrainResult]:
    """Train ``make_net()`` once per seed of ``seeds`` on ``train_set``, all in one step.

    Same protocol and per-seed randomness as ``train`` (``config.report_every`` and
    ``config.compile`` are not supported here). A seed whose epoch loss turns NaN/inf is
    reported "diverged" at that epoch; the others go on. ``wall_seconds`` and
    ``images_per_second`` of each result are those of the whole stack divided evenly.

    Raises:
        ValueError: no seeds, repeated seeds, or ``config.report_every`` set.
    """
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {list(seeds)}")
    if config.report_every:
        raise ValueError("stacked training scores only at the end; set report_every=0")
    device = torch.device(device)
    use_amp = uses_bf16(config, device)
    nets = [build_seeded(make_net, seed).to(device) for seed in seeds]
    params, buffers = stack_module_state(nets)
    template = copy.deepcopy(nets[0]).to("meta")
    del nets
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    images, labels = (t.to(device) for t in train_set)
    dsa = DSA(DSAConfig(config.augment))
    criterion = nn.CrossEntropyLoss()

    def loss_of(p: dict, b: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return criterion(functional_call(template, (p, b), (x,)), y)

    batched_loss = vmap(loss_of, randomness="different")
    weights = list(params.values())

    def sgd(lr: float) -> torch.optim.SGD:  # elementwise, so per-seed exactly
        return torch.optim.SGD(weights, lr=lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)

    optimizer = sgd(config.lr)
    decay_epoch = int(config.epochs * config.lr_decay_at)
    n, k = len(labels), len(seeds)
    ended: dict[int, tuple[int, float]] = {}  # seed index -> (epoch, loss) where it diverged
    start, epoch_loss = time.perf_counter(), torch.zeros(k)
    for epoch in range(1, config.epochs + 1):
        if epoch == decay_epoch + 1 and decay_epoch > 0:  # lr x0.1, momentum dropped
            optimizer = sgd(config.lr * 0.1)
        orders = [torch.randperm(n, generator=g).to(device) for g in generators]
        loss_sum = torch.zeros(k, device=device)
        for begin in range(0, n, config.batch_size):
            idx = [order[begin:begin + config.batch_size] for order in orders]
            x = torch.stack([dsa(images[i], g) for i, g in zip(idx, generators, strict=True)])
            y = torch.stack([labels[i] for i in idx])
            with torch.autocast(device.type, torch.bfloat16, enabled=use_amp):
                losses = batched_loss(params, buffers, x, y)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()  # slice s of every weight gets seed s's gradient
            optimizer.step()
            loss_sum += losses.detach().float() * len(idx[0])
        epoch_loss = loss_sum.cpu() / n
        for s in range(k):
            if s not in ended and not math.isfinite(float(epoch_loss[s])):
                ended[s] = (epoch, float(epoch_loss[s]))
        if len(ended) == k:
            break
    seconds = time.perf_counter() - start
    eval_batch = config.eval_batch_size if device.type == "cuda" else min(
        config.eval_batch_size, CPU_EVAL_BATCH)
    results = []
    for s in range(k):
        if s in ended:
            epochs, loss = ended[s]
            results.append(TrainResult(RunStatus.DIVERGED, {}, loss, epochs, seconds / k,
                                       epochs * n * k / seconds, bf16=use_amp))
            continue
        net = unstack(make_net, params, buffers, s).to(device)
        accuracies = {name: evaluate(net, x.to(device), y.to(device), batch_size=eval_batch,
                                     amp=use_amp) for name, (x, y) in (eval_sets or {}).items()}
        history = [(config.epochs, accuracies["val"])] if "val" in accuracies else []
        results.append(TrainResult(RunStatus.FINISHED, accuracies, float(epoch_loss[s]),
                                   config.epochs, seconds / k,
                                   config.epochs * n * k / seconds, history, bf16=use_amp))
    return results
