"""Zero-cost baselines on NAS-Bench-201 against their published correlations.

Scores a uniform random sample of nb201 cells with the toolkit's zero-cost scorers
(``nas.analysis.zero_cost``) under the published protocols, then computes Spearman's rho
against the benchmark's published accuracies (``nas.published``):

- Abdelfattah et al., ICLR 2021 (as their released code runs it): CIFAR-10 32x32, one
  random minibatch of 64 training images, default PyTorch initialisation; correlated with the
  "cifar10-valid" model's CIFAR-10 test accuracy, as |rho| over all 15,625 cells.
- Mellor et al., ICML 2021 (NASWOT): one minibatch of 128 training images.

Results go to a JSON file (rewritten as cells finish, so a stopped run keeps its numbers) and
a markdown table. See docs/nas-bench-201.md for the published figures and our run.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nas.analysis import metrics, zero_cost
from nas.analysis.zero_cost import score_architecture
from nas.core.data import DataConfig, PreparedData, load_raw, prepare, resolve_data_path
from nas.core.runtime import machine, versions
from nas.core.trainer import build_seeded
from nas.errors import InputError
from nas.published import load_nb201
from search_spaces import Nb201Spec, get_space, nb201

SPACE = "nb201"
# what `_score` measures: the toolkit's zero-cost scores and the released codes' variants
METHODS = (*zero_cost.ZERO_COST_METHODS, "synflow_published")
# target of the published protocol first; the others for reference
TARGETS = ("cifar10valid_ori_test_acc", "cifar10_valid_acc", "cifar10_test_acc")

# Published |Spearman rho| on NAS-Bench-201 CIFAR-10 over all 15,625 cells, as the authors'
# released results print them (docs/nas-bench-201.md: figures, sources, protocol)
_ABDELFATTAH = "Abdelfattah et al., ICLR 2021, authors' released results (docs/nas-bench-201.md)"
PUBLISHED = {
    name: {"rho": rho, "source": _ABDELFATTAH, "target": "cifar10valid_ori_test_acc",
           "cells": 15625}
    for names, rho in ((("grad_norm", "grad_norm_published"), 0.594),
                       (("synflow", "synflow_published"), 0.737))
    for name in names
}


@dataclass(frozen=True)
class LiteratureConfig:
    """A bounded reproduction of the published zero-cost protocols on nb201."""

    sample: int = 1000  # cells, uniform without replacement (the papers used all 15,625)
    seed: int = 0  # sample, minibatch draw and network initialisation
    batch_size: int = 64  # Abdelfattah et al. 2021: one random minibatch of 64
    naswot_batch_size: int = 128  # Mellor et al. (ICML 2021): minibatch of 128 on NB201
    # cheapest first; "grad_norm" also yields "grad_norm_published" from the same pass
    methods: tuple[str, ...] = ("params", "flops", "synflow", "synflow_published",
                                "grad_norm", "naswot")
    time_limit_s: float | None = None  # stop starting new cells after this many seconds
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.sample <= nb201.NUM_ARCHS:
            raise InputError(f"--sample must be between 1 and {nb201.NUM_ARCHS}, the cells "
                             f"of NAS-Bench-201; got {self.sample}")
        if self.seed < 0:
            raise InputError(f"--seed must be >= 0, got {self.seed}")
        if min(self.batch_size, self.naswot_batch_size) < 1:
            raise InputError(f"batch sizes must be at least 1, got {self.batch_size} and "
                             f"{self.naswot_batch_size}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise InputError(f"unknown --methods {unknown}; choose from {list(METHODS)}")
        if self.time_limit_s is not None and self.time_limit_s <= 0:
            raise InputError(f"--time-limit must be positive, got {self.time_limit_s}")

    def to_dict(self) -> dict:
        return asdict(self)


def sample_indices(n: int, seed: int) -> list[int]:
    """``n`` distinct indices in random order: every prefix is a uniform random sample."""
    rng = np.random.default_rng(seed)
    return [int(i) for i in rng.choice(nb201.NUM_ARCHS, size=min(n, nb201.NUM_ARCHS),
                                       replace=False)]


def _batch(data: PreparedData, size: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data.train_labels), generator=generator)[:size]
    return [(data.normalize(data.train_images[idx]), data.train_labels[idx])]


def _weights(net: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def synflow_published(net: nn.Module, batches) -> float:
    """SynFlow as the released code computes it: BatchNorm bypassed, all weights made
    positive, float64, an all-ones input; sum of |w * dR/dw| over conv and linear weights."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.forward = lambda x: x  # this copy only: the network is built per call
    net = net.double()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad()
    net(torch.ones((1, *batches[0][0].shape[1:]), dtype=torch.float64)).sum().backward()
    with torch.no_grad():
        return float(sum((w * w.grad).abs().sum() for w in _weights(net) if w.grad is not None))


def grad_norm_both(net: nn.Module, batches) -> tuple[float, float]:
    """(the toolkit's grad_norm, the released code's): the same backward pass, summed over
    every parameter tensor vs over conv and linear weights only."""
    toolkit = zero_cost.grad_norm(net, batches)  # leaves the gradients of the last batch
    published = float(sum(w.grad.norm() for w in _weights(net) if w.grad is not None))
    return toolkit, published


def _score(arch_id: str, method: str, data: PreparedData, batches, seed: int
           ) -> dict[str, float | None]:
    """{name: value} for one method (grad_norm yields two names)."""
    if method in zero_cost.ZERO_COST_METHODS and method != "grad_norm":
        return {method: score_architecture(SPACE, arch_id, method, data, batches, seed)[0]}
    space = get_space(SPACE)
    shape = dict(in_channels=data.channels, num_classes=data.num_classes,
                 im_size=data.im_size)
    net = build_seeded(partial(space.build, space.parse(arch_id), **shape), seed)
    if method == "grad_norm":
        toolkit, published = grad_norm_both(net, batches)
        return {"grad_norm": toolkit, "grad_norm_published": published}
    if method == "synflow_published":
        value = synflow_published(net, batches)
        return {method: value if math.isfinite(value) else None}
    raise ValueError(f"unknown method {method!r}")


def correlations(scores: dict[str, dict[str, float | None]],
                 truth: dict[str, dict[str, float]]) -> dict[str, dict]:
    """Per method and target: Spearman rho (signed) over every scored cell, an undefined score
    (NASWOT's singular kernel, log 0) ranked below all others as the published code's -inf
    is; and ``<target>_defined``: over the cells with a defined score only."""
    out: dict[str, dict] = {}
    for method, per_arch in scores.items():
        archs = list(per_arch)
        defined = [a for a in archs if per_arch[a] is not None]
        out[method] = {"n": len(archs), "undefined": len(archs) - len(defined)}
        if len(defined) < 3:
            continue
        floor = min(per_arch[a] for a in defined) - 1.0
        for target in TARGETS:
            out[method][target] = metrics.spearman(
                [floor if per_arch[a] is None else per_arch[a] for a in archs],
                [truth[target][a] for a in archs])
            out[method][f"{target}_defined"] = metrics.spearman(
                [per_arch[a] for a in defined], [truth[target][a] for a in defined])
    return out


def run(config: LiteratureConfig, out_json: Path, *, data_path: str | None = None,
        table_path: str | None = None, resume: bool = False, note=print) -> dict:
    """Score the sample method by method, write ``out_json`` (and ``.md`` beside it) as it
    goes and return the result. With a time limit, each method gets an equal share of what
    is left when it starts, and scores a prefix of the (random) sample that fits. With
    ``resume``, the cells ``out_json`` already scored (same sample, seed and batch sizes) are
    kept and only the others are scored; wall times add up.

    Raises:
        InputError: data other than CIFAR-10 at 32x32, or a result to resume of another
            configuration.
    """
    start = time.perf_counter()
    scores: dict[str, dict[str, float | None]] = {}
    seconds: dict[str, list[float]] = {}
    earlier = 0.0
    if resume and out_json.is_file():
        scores, seconds, earlier = _resumed(json.loads(out_json.read_text()), config)
    path = str(resolve_data_path(data_path))
    data = prepare(load_raw(path), DataConfig(path=path))
    if (data.im_size, data.num_classes) != (32, 10):
        raise InputError(f"the published protocol is CIFAR-10 at 32x32; got {data.num_classes} "
                         f"classes at {data.im_size}x{data.im_size}")
    table = load_nb201(table_path)
    truth = {t: table.accuracy(t) for t in TARGETS}
    specs = nb201.enumerate_specs()
    arch_ids = [specs[i].id for i in sample_indices(config.sample, config.seed)]
    result: dict = {}
    for position, method in enumerate(config.methods):
        size = config.naswot_batch_size if method == "naswot" else config.batch_size
        batches = _batch(data, size, config.seed)
        method_start = time.perf_counter()
        budget = None if config.time_limit_s is None else \
            (config.time_limit_s - (method_start - start)) / (len(config.methods) - position)
        for done, arch_id in enumerate(arch_ids, start=1):
            if arch_id in scores.get(method, {}):
                continue
            t0 = time.perf_counter()
            for name, value in _score(arch_id, method, data, batches, config.seed).items():
                scores.setdefault(name, {})[arch_id] = value
                seconds.setdefault(name, []).append(time.perf_counter() - t0)
            spent = time.perf_counter() - method_start
            stop = budget is not None and spent > budget
            if done % 50 == 0 or done == len(arch_ids) or stop:
                note(f"{method}: {done}/{len(arch_ids)} cells, {spent:.0f} s")
                result = _result(config, table.origin, scores, seconds, truth, len(arch_ids),
                                 earlier + time.perf_counter() - start)
                write(result, out_json)
            if stop:
                break
    if not result:  # everything was resumed
        write(_result(config, table.origin, scores, seconds, truth, len(arch_ids), earlier),
              out_json)
    return finalize(out_json, table_path)


def _resumed(previous: dict, config: LiteratureConfig
             ) -> tuple[dict[str, dict[str, float | None]], dict[str, list[float]], float]:
    """Scores (by cell string), per-cell seconds (each cell at its method's mean) and wall
    time of a written result of the same sample and protocol."""
    keys = ("sample", "seed", "batch_size", "naswot_batch_size")
    if any(previous["config"][k] != getattr(config, k) for k in keys):
        raise InputError(f"cannot resume: the result holds {[previous['config'][k] for k in keys]}"
                         f" for {list(keys)}, not {[getattr(config, k) for k in keys]}")
    scores = {m: {Nb201Spec.parse(a).id: v for a, v in per_arch.items()}
              for m, per_arch in previous["scores"].items()}
    seconds = {m: [previous["seconds_per_cell"][m]] * len(v) for m, v in scores.items()}
    return scores, seconds, previous["wall_seconds"]


def intervals(scores: dict[str, dict[str, float | None]], truth: dict[str, float], *,
              baseline: str = "params", n_resamples: int = 1000, seed: int = 0) -> dict:
    """Per method, over its scored cells (undefined ranked last): a 95% bootstrap interval of
    rho against ``truth``, and rho minus the ``baseline`` method's rho on the same cells with
    a paired bootstrap interval."""
    out = {}
    for method, per_arch in scores.items():
        defined = [v for v in per_arch.values() if v is not None]
        if len(defined) < 3:
            continue
        floor = min(defined) - 1.0
        archs = list(per_arch)
        x = [floor if per_arch[a] is None else per_arch[a] for a in archs]
        y = [truth[a] for a in archs]
        low, high = metrics.bootstrap_ci(x, y, n_resamples=n_resamples, seed=seed)
        row = {"rho_ci": [low, high]}
        if method != baseline and baseline in scores:
            base = [scores[baseline][a] for a in archs]
            diff = metrics.paired_spearman_difference(x, base, y, n_resamples=n_resamples,
                                                      seed=seed)
            row[f"minus_{baseline}"] = {"difference": diff.difference,
                                        "ci": [diff.low, diff.high]}
        out[method] = row
    return out


def finalize(out_json: Path, table_path: str | None = None) -> dict:
    """Add ``intervals`` (against the published protocol's target) to a written result and
    rewrite it with its markdown table."""
    result = json.loads(out_json.read_text())
    truth = load_nb201(table_path).accuracy(TARGETS[0])
    specs = {m: {a: Nb201Spec.parse(a) for a in per_arch}
             for m, per_arch in result["scores"].items()}
    scores = {m: {specs[m][a].id: v for a, v in per_arch.items()}
              for m, per_arch in result["scores"].items()}
    result["intervals"] = intervals(scores, truth)
    # stored by benchmark index (``nb201-<i>`` ids) to keep the file small
    result["scores"] = {m: {f"nb201-{specs[m][a].index}": v for a, v in per_arch.items()}
                        for m, per_arch in result["scores"].items()}
    write(result, out_json)
    return result


def _result(config: LiteratureConfig, origin: str, scores: dict, seconds: dict, truth: dict,
            planned: int, elapsed: float) -> dict:
    return {
        "benchmark": "NAS-Bench-201", "space": SPACE, "dataset": "CIFAR-10 32x32 (train split)",
        "ground_truth_table": origin, "config": config.to_dict(),
        "cells": {m: len(v) for m, v in scores.items()}, "planned": planned,
        "wall_seconds": elapsed,
        "seconds_per_cell": {m: float(np.mean(s)) for m, s in seconds.items()},
        "threads": torch.get_num_threads(), "versions": versions(), "machine": machine(),
        "published": PUBLISHED,
        "spearman": correlations(scores, truth),
        "scores": scores,
    }


def markdown(result: dict) -> str:
    lines = [f"Zero-cost baselines on NAS-Bench-201 CIFAR-10: random cells (seed "
             f"{result['config']['seed']}), {result['wall_seconds'] / 60:.1f} min on "
             f"{result['threads']} thread(s); Spearman rho against the published accuracies.",
             "",
             "| method | cells | published abs(rho) | ours: cifar10-valid test (published target) "
             "| 95% CI | minus params (paired 95% CI) | ours: cifar10-valid valid "
             "| ours: cifar10 test | s/cell |",
             "|---|---|---|---|---|---|---|---|---|"]
    ci = result.get("intervals", {})
    for method, row in result["spearman"].items():
        pub = result["published"].get(method)
        published = f"{pub['rho']:.3f}" if pub else "none verified"
        rho = [f"{row.get(t, float('nan')):.3f}" for t in TARGETS]
        band = ci.get(method, {})
        interval = "[{:.3f}, {:.3f}]".format(*band["rho_ci"]) if band else "-"
        paired = band.get("minus_params")
        versus = ("{:+.3f} [{:+.3f}, {:+.3f}]".format(paired["difference"], *paired["ci"])
                  if paired else "-")
        cells = " | ".join([rho[0], interval, versus, *rho[1:]])
        lines.append(f"| {method} | {row['n']} | {published} | {cells} | "
                     f"{result['seconds_per_cell'][method]:.2f} |")
    return "\n".join(lines) + "\n"


def write(result: dict, out_json: Path) -> None:
    out_json.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_json.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(out_json)
    out_json.with_suffix(".md").write_text(markdown(result))
