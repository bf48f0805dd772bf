"""Zero-cost baselines: score an untrained network from a few minibatches, no training.

Registered by name like proxies (``ZERO_COST["synflow"]``); each scorer takes a freshly
initialised network and minibatches and returns a float (higher = predicted better).
``score_architectures`` scores a sample on a dataset and caches each score in the database.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from nas.core.data import PreparedData
from nas.core.runtime import device_name, versions
from nas.core.trainer import build_seeded
from nas.errors import InputError
from search_spaces import SearchSpace, get_space
from storage import Database, DatasetRecord, ScoreRecord, get_score, record_scores

Batches = list[tuple[torch.Tensor, torch.Tensor]]
Scorer = Callable[[nn.Module, Batches], float]
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Sigmoid)


@dataclass(frozen=True)
class ZeroCostConfig:
    batches: int = 3  # zero-cost scores need at most a few minibatches (docs/nas-bench-201.md)
    batch_size: int = 64  # NASWOT (Mellor et al., ICML 2021) uses minibatches of 64-128
    seed: int = 0  # network init and minibatch draw

    def __post_init__(self) -> None:
        if self.batches < 1 or self.batch_size < 1:
            raise InputError(f"zero-cost batches and batch size must be at least 1, got "
                             f"{self.batches} and {self.batch_size}")
        if self.seed < 0:
            raise InputError(f"zero-cost seed must be >= 0, got {self.seed}")

    def to_dict(self) -> dict:
        return asdict(self)


def synflow(net: nn.Module, batches: Batches) -> float:
    """SynFlow (Tanaka et al. 2020; zero-cost form of Abdelfattah et al. 2021): with all
    weights made positive and an all-ones input, sum over parameters of |theta * dR/dtheta|,
    R = sum of the outputs; float64, eval mode. Data-free: only the input shape is used.
    ``net`` is modified (weights replaced by their absolute values)."""
    net = net.double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    x = torch.ones((1, *batches[0][0].shape[1:]), dtype=torch.float64)
    net.zero_grad()
    net(x).sum().backward()
    with torch.no_grad():
        return float(sum((p * p.grad).abs().sum() for p in net.parameters()
                         if p.grad is not None))


def naswot_from_codes(codes: torch.Tensor) -> float:
    """NASWOT score from binary activation codes (N, units): log|K_H| with
    K_H[i, j] = units - Hamming(c_i, c_j). -inf when K_H is singular (repeated codes)."""
    units = codes.shape[1]
    # one float32 product: every intermediate is an integer below 2**24 (exact) when units <
    # 2**22; float64 above
    c = codes.to(torch.float32 if units < 2**22 else torch.float64)
    ones = c.sum(dim=1)
    kernel = 2 * c @ c.T - ones[:, None] - ones[None, :] + units  # = c c' + (1-c)(1-c)'
    sign, logdet = torch.linalg.slogdet(kernel.double())
    return float(logdet) if sign > 0 else -math.inf


def activation_codes(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Binary code of each image: which units of every activation layer have a positive
    pre-activation (the linear region for ReLU/LeakyReLU; above 0.5 for sigmoid)."""
    parts: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, inp, _out: parts.append(
        (inp[0] > 0).flatten(1))) for m in net.modules() if isinstance(m, ACTIVATIONS)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
    return torch.cat(parts, dim=1)


def naswot(net: nn.Module, batches: Batches) -> float:
    """NASWOT (Mellor et al., ICML 2021): mean over minibatches of the log-determinant of the
    binary activation kernel; train mode, as in the paper's code."""
    net.train()
    return float(np.mean([naswot_from_codes(activation_codes(net, x)) for x, _ in batches]))


def grad_norm(net: nn.Module, batches: Batches) -> float:
    """grad_norm (Abdelfattah et al., ICLR 2021): sum over parameter tensors of the L2 norm
    of the cross-entropy gradient, averaged over minibatches."""
    net.train()
    criterion = nn.CrossEntropyLoss()
    scores = []
    for x, y in batches:
        net.zero_grad()
        criterion(net(x), y).backward()
        scores.append(sum(float(p.grad.norm()) for p in net.parameters() if p.grad is not None))
    return float(np.mean(scores))


ZERO_COST: dict[str, Scorer] = {"synflow": synflow, "naswot": naswot, "grad_norm": grad_norm}
ANALYTIC = ("params", "flops")  # from search_spaces' count_params / count_macs
ZERO_COST_METHODS = (*ANALYTIC, *ZERO_COST)
COMMIT_EVERY_S = 1.0  # seconds of scoring committed together (a commit costs ~0.005-0.03 s)


def minibatches(data: PreparedData, config: ZeroCostConfig) -> Batches:
    """``config.batches`` seeded random minibatches of the training split, standardised."""
    generator = torch.Generator().manual_seed(config.seed)
    n = config.batches * config.batch_size
    idx = torch.randperm(len(data.train_labels), generator=generator)[:n]
    x, y = data.normalize(data.train_images[idx]), data.train_labels[idx]
    return list(zip(x.split(config.batch_size), y.split(config.batch_size), strict=True))


def _key(dataset: DatasetRecord, space: str, arch_id: str, method: str,
         config: ZeroCostConfig) -> str:
    blob = json.dumps({"dataset": dataset.key, "space": space, "arch": arch_id,
                       "method": method, "config": config.to_dict()}, sort_keys=True)
    return "zc-" + hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()


def score_architecture(space_name: str, arch_id: str, method: str, data: PreparedData,
                       batches: Batches, seed: int) -> tuple[float | None, float]:
    """Score one architecture with one method; returns (value or None if undefined, seconds).

    Raises:
        InputError: for an unknown method (the message lists the valid ones).
    """
    if method not in ZERO_COST_METHODS:
        raise InputError(f"unknown zero-cost method {method!r}; choose from "
                         f"{list(ZERO_COST_METHODS)}")
    space = get_space(space_name)
    spec = space.parse(arch_id)
    shape = dict(in_channels=data.channels, num_classes=data.num_classes, im_size=data.im_size)
    start = time.perf_counter()
    if method == "params":
        value: float = space.count_params(spec, **shape)
    elif method == "flops":
        value = space.count_macs(spec, **shape)
    else:
        net = build_seeded(partial(space.build, spec, **shape), seed)
        value = ZERO_COST[method](net, batches)
    seconds = time.perf_counter() - start
    return (float(value) if math.isfinite(value) else None), seconds


def _stored(db: Database, space: SearchSpace, held: list[tuple[ScoreRecord, bool]]
            ) -> list[ScoreRecord]:
    """Commit the new records of ``held`` (record, new) in one transaction; return all."""
    new = [(r, space.parse(r.arch_id).params()) for r, is_new in held if is_new]
    if new:
        record_scores(db, new)
    return [r for r, _ in held]


def iter_scores(db: Database, data: PreparedData, dataset: DatasetRecord, space_name: str,
                arch_ids: list[str], methods: list[str], config: ZeroCostConfig
                ) -> Iterator[ScoreRecord]:
    """Yield the score of every (method, architecture) in that order, computing only those
    not stored yet. New scores are committed together once they took ``COMMIT_EVERY_S`` (a
    commit per cheap score would cost more than the score), so an interrupted call resumes
    losing at most that much scoring."""
    batches = minibatches(data, config)
    space = get_space(space_name)
    held: list[tuple[ScoreRecord, bool]] = []  # (record, new), yielded once committed
    pending_s = 0.0  # scoring seconds not committed yet
    for method in methods:
        for arch_id in arch_ids:
            key = _key(dataset, space_name, arch_id, method, config)
            done = get_score(db, key)
            if done is not None:
                held.append((done, False))
                continue
            value, seconds = score_architecture(space_name, arch_id, method, data, batches,
                                                config.seed)
            held.append((ScoreRecord(key, space_name, arch_id, dataset.id, method, config.seed,
                                     config.to_dict(), value, seconds,
                                     device_name(torch.device("cpu")), versions()), True))
            pending_s += seconds
            if pending_s >= COMMIT_EVERY_S:
                yield from _stored(db, space, held)
                held, pending_s = [], 0.0
    yield from _stored(db, space, held)


def score_architectures(db: Database, data: PreparedData, dataset: DatasetRecord,
                        space_name: str, arch_ids: list[str], methods: list[str] | None = None,
                        config: ZeroCostConfig = ZeroCostConfig(), *, progress: bool = True
                        ) -> list[ScoreRecord]:
    """Score ``arch_ids`` with each zero-cost method (None: all; an empty list: none) on CPU;
    cached by (dataset, architecture, method, config)."""
    methods = list(ZERO_COST_METHODS if methods is None else methods)
    total = len(methods) * len(arch_ids)
    return list(tqdm(iter_scores(db, data, dataset, space_name, arch_ids, methods, config),
                     total=total, desc="zero-cost scores", unit="score", disable=not progress))
