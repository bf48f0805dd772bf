"""Architectures per hour on a realistic NAS workload, toolkit against a one-at-a-time loop.

The mix is the ``cpu`` fidelity preset's 32 convnet720 ConvNets plus 50 NAS-Bench-201 cells
(stratified samples, seed 0) trained on a random real IPC-10 set for 50 epochs at 16x16 and
scored on the test images. The toolkit trains them as ``nas`` trains a list of candidates:
one one-thread process per core, fed from a queue, longest first
(``Evaluator.train_in_workers``), channels_last where it is faster. The reference is a plain
script: the reference loop (``nas.bench.trainers.reference``) over the architectures one
after another in one process with torch's default threads, NCHW, with the published
networks' layers. Before each run the benchmark samples the machine's matmul rate and the
training rate one core reaches on the mix's largest network, the best any network of the
mix trains at here; that rate times the cores bounds what any trainer of the mix can reach.
A third part times seed repeats: several seeds of one architecture stacked in one step
(``nas.core.stacked``) against the same seeds one after another.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch

from nas.api import longest_first, train_on_shared
from nas.bench.speed import SpeedConfig, bench_data, child_env, matmul_gflops, recorded
from nas.bench.trainers import cpu_seconds, make_net, shape_of, space_of
from nas.core.parallel import check_workers, cpu_cores, shared_data, worker_pool
from nas.core.selection import select_architectures
from nas.core.stacked import train_stacked
from nas.core.trainer import TrainConfig, train, uses_bf16
from nas.errors import InputError
from search_spaces import get_space


@dataclass(frozen=True)
class MixConfig:
    """The workload; defaults are the mix the benchmark reports."""

    convnets: int = 32  # the cpu preset's convnet720 sample
    cells: int = 50  # NAS-Bench-201 cells
    ipc: int = 10
    epochs: int = 50
    resize: int = 16
    test_per_class: int = 100
    seed: int = 0
    data: str | None = None  # image dataset directory; None = synthetic tensors
    workers: int = field(default_factory=cpu_cores)
    stacked_seeds: int = 4  # seeds per architecture in the seed-repeat comparison (0: skip)

    def __post_init__(self) -> None:
        for name in ("ipc", "epochs", "resize", "test_per_class"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, "
                                 f"got {getattr(self, name)}")
        if self.convnets < 0 or self.cells < 0 or self.convnets + self.cells < 1:
            raise InputError("--convnets and --cells must be >= 0, and one of them >= 1")
        if self.stacked_seeds < 0 or self.stacked_seeds == 1:
            raise InputError(f"--stacked-seeds must be 0 (skip) or at least 2, "
                             f"got {self.stacked_seeds}")
        check_workers(self.workers)

    def archs(self) -> list[str]:
        chosen = []
        for space, n in (("convnet720", self.convnets), ("nb201", self.cells)):
            if n:
                chosen += select_architectures(get_space(space), sample=n, seed=self.seed)
        return chosen


@dataclass(frozen=True)
class MixRun:
    """One way of training the whole mix."""

    trainer: str
    architectures: int
    wall_seconds: float
    mean_test_acc: float
    gflops: float  # training and scoring FLOPs of the mix / wall seconds
    matmul_gflops: float  # the machine's matmul rate in this run's precision, sampled just
    # before it
    core_gflops: float  # one core training the mix's largest network, sampled likewise
    bf16: bool  # trained under bf16 autocast (the reference never is)

    @property
    def archs_per_hour(self) -> float:
        return self.architectures * 3600 / self.wall_seconds


@dataclass(frozen=True)
class SeedRepeat:
    """``seeds`` runs of one architecture, stacked in one step vs one after another."""

    arch: str
    seeds: int
    one_at_a_time_seconds: float
    stacked_seconds: float

    @property
    def speedup(self) -> float:
        return self.one_at_a_time_seconds / self.stacked_seconds


@dataclass(frozen=True)
class MixReport:
    config: dict
    data_source: str
    runs: list[MixRun]
    seed_repeats: list[SeedRepeat]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    def ratio(self) -> float:
        """Architectures/hour of the toolkit over the one-at-a-time reference's."""
        rate = {r.trainer: r.archs_per_hour for r in self.runs}
        return rate["toolkit"] / rate["reference"]

    def ceiling(self) -> float:
        """The highest ``ratio`` this machine allows: every core training at the rate one core
        reaches on the mix's largest network, over the reference's rate (both sampled just
        before the reference's run)."""
        reference = next(r for r in self.runs if r.trainer == "reference")
        return self.config["workers"] * reference.core_gflops / reference.gflops


def _flops(archs: list[str], data: dict, epochs: int) -> float:
    """Training (6 per MAC per image per epoch) and scoring (2 per MAC) FLOPs of the mix."""
    x, shape = data["train_images"], shape_of(data)
    total = 0.0
    for arch in archs:
        macs = get_space(space_of(arch)).macs(arch, **shape)
        total += macs * (6 * epochs * len(x) + 2 * len(data["test_labels"]))
    return total


def core_gflops(arch: str, data: dict, steps: int = 3) -> float:
    """Training GFLOP/s of one core on ``arch`` the toolkit's way (eager, one thread), timed
    after a warm-up run; 6 FLOPs per forward MAC per image."""
    x, y, threads = data["train_images"], data["train_labels"], torch.get_num_threads()
    make = partial(make_net, arch, data)
    torch.set_num_threads(1)
    try:
        train(make, (x, y), TrainConfig(epochs=1, compile=False), seed=0)
        result = train(make, (x, y), TrainConfig(epochs=steps, compile=False), seed=0)
    finally:
        torch.set_num_threads(threads)
    return 6 * get_space(space_of(arch)).macs(arch, **shape_of(data)) * \
        result.images_per_second / 1e9


def _toolkit(archs: list[str], data: dict, config: MixConfig) -> tuple[float, list[float]]:
    """Wall seconds (worker start-up included) and test accuracies, ``nas``'s way."""
    shared = {"train_set": (data["train_images"], data["train_labels"]),
              "eval_sets": {"test": (data["test_images"], data["test_labels"])},
              "shape": shape_of(data)}
    train_config = TrainConfig(epochs=config.epochs)
    jobs = longest_first([(space_of(a), a, train_config, config.seed) for a in archs],
                         shared["shape"])
    start = time.perf_counter()
    with worker_pool(config.workers, threads_per_worker=1, shared=shared) as pool:
        results = list(pool.imap_unordered(train_on_shared, jobs))
    return time.perf_counter() - start, [r.accuracies["test"] for _, r, _ in results]


def _reference(path: Path, archs: list[str], config: MixConfig) -> tuple[float, list[float]]:
    """Wall seconds and test accuracies of the reference loop, one architecture at a time,
    in a fresh process with torch's defaults."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(archs, f)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "nas.bench.trainers", "reference-mix", str(path), f.name,
             str(config.epochs), str(config.seed)], capture_output=True, text=True,
            env=child_env())
    finally:
        os.unlink(f.name)
    if out.returncode:
        raise RuntimeError(f"reference mix failed:\n{out.stderr[-2000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["wall_seconds"], r["test_accs"]


def _seed_repeat(job: tuple[str, int, int]) -> SeedRepeat:
    """In a one-thread worker: ``seeds`` runs one after another, then stacked."""
    arch, seeds, epochs = job
    data = shared_data()
    x, y = data["train_images"], data["train_labels"]
    make, config = partial(make_net, arch, data), TrainConfig(epochs=epochs)
    warm_up = TrainConfig(epochs=1)  # first calls pay one-off set-up; keep it out of both
    train(make, (x, y), warm_up, seed=0)
    train_stacked(make, (x, y), warm_up, seeds=range(seeds))
    start = time.perf_counter()
    for seed in range(seeds):
        train(make, (x, y), config, seed=seed)
    alone = time.perf_counter() - start
    start = time.perf_counter()
    train_stacked(make, (x, y), config, seeds=range(seeds))
    return SeedRepeat(arch, seeds, alone, time.perf_counter() - start)


def run_mix(config: MixConfig, *, log=print) -> MixReport:
    """Train the mix both ways (toolkit first), then the seed repeats; ``log`` gets a line
    per part."""
    load_before = os.getloadavg()
    data, source = bench_data(SpeedConfig(
        archs=(), ipc=config.ipc, test_per_class=config.test_per_class, resize=config.resize,
        epochs=config.epochs, seed=config.seed, data=config.data))
    archs = config.archs()
    flops = _flops(archs, data, config.epochs)
    largest = max(archs, key=lambda a: get_space(space_of(a)).macs(a, **shape_of(data)))
    runs, repeats = [], []
    with tempfile.TemporaryDirectory(prefix="nas-mix-") as tmp:
        path = Path(tmp) / "data.pt"
        torch.save(data, path)
        toolkit_bf16 = uses_bf16(TrainConfig(), torch.device("cpu"))
        for trainer, run, bf16 in (
                ("toolkit", lambda: _toolkit(archs, data, config), toolkit_bf16),
                ("reference", lambda: _reference(path, archs, config), False)):
            # sampled per run: a shared host's speed moves
            peak, _ = matmul_gflops(dtype=torch.bfloat16 if bf16 else torch.float32)
            core = core_gflops(largest, data)
            cpu = cpu_seconds()
            wall, accs = run()
            runs.append(MixRun(trainer, len(archs), wall, sum(accs) / len(accs),
                               flops / wall / 1e9, peak, core, bf16))
            log(f"{trainer} ({'bf16' if bf16 else 'float32'}): {len(archs)} architectures "
                f"in {wall:.1f} s "
                f"({runs[-1].archs_per_hour:.0f}/hour, mean test acc "
                f"{runs[-1].mean_test_acc:.3f}; parent cpu {cpu_seconds() - cpu:.1f} s)")
    if config.stacked_seeds:
        first = (archs[:1] if config.convnets else []) + (
            archs[config.convnets:config.convnets + 1] if config.cells else [])
        with worker_pool(1, threads_per_worker=1, shared=data) as pool:
            for arch in first:
                repeats.append(pool.apply(_seed_repeat, ((arch, config.stacked_seeds,
                                                           config.epochs),)))
                r = repeats[-1]
                log(f"seed repeats {arch}: {r.seeds} seeds one at a time "
                    f"{r.one_at_a_time_seconds:.1f} s, stacked {r.stacked_seconds:.1f} s")
    return MixReport(recorded(config), source, runs, repeats, load_before,
                     os.getloadavg())

