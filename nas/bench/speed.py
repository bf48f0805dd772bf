"""Speed benchmark: the toolkit trainer against a plain PyTorch loop, side by side.

Both trainers see the same IPC-50 set, architectures, epochs and seed; each run happens in a
fresh process so the toolkit's allocator tuning cannot leak into the reference. The grid part
measures architectures/hour of one worker process against ``--workers`` of them, as the toolkit
trains many candidates (``nas.core.parallel.placement``): on a CPU one 1-thread process per
core, on CUDA processes sharing the GPU. Everything trains on ``SpeedConfig.device``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from nas.bench.trainers import cpu_seconds, make_net
from nas.core.data import portable_path
from nas.core.parallel import placement, worker_pool
from nas.core.runtime import default_device
from nas.core.trainer import TensorPair, TrainConfig, train
from nas.errors import InputError
from search_spaces import ConvNetSpec, count_macs

DEFAULT_ARCH = ConvNetSpec().id  # d3-w128-relu-instance-avg, the literature's ConvNet-3


@dataclass(frozen=True)
class SpeedConfig:
    """What the benchmark trains; defaults are the full form for a 2-core CPU."""

    archs: tuple[str, ...] = ("d1-w32-relu-none-avg", DEFAULT_ARCH, "d4-w256-relu-batch-avg",
                              "d3-w128-relu-instance-none")  # small, default, big, no-pool
    ipc: int = 50  # images per class of the proxy set (D2M/DM evaluate at IPC 10/50)
    classes: int = 10  # CIFAR-10
    test_per_class: int = 100  # scored by both trainers after the last epoch
    resize: int | None = None  # None keeps 32x32
    epochs: int = 4  # same for both; enough for a steady rate, short of the 200 of the protocol
    seed: int = 0
    data: str | None = None  # image dataset directory; None = synthetic tensors
    grid_archs: tuple[str, ...] = ("d1-w32-relu-none-avg", "d1-w64-relu-instance-max",
                                   "d2-w32-relu-batch-avg", "d2-w64-relu-instance-avg",
                                   "d1-w32-sigmoid-group-avg", "d2-w32-leakyrelu-layer-max")
    grid_epochs: int = 2
    workers: int | None = None  # N of the 'N workers vs 1' comparison; None: the device's
    # default (``nas.core.parallel.placement``: all cores on a CPU, GPU_WORKERS on CUDA)
    device: str | None = None  # where every run trains; None: CUDA when available, else CPU
    # nas.bench.trainers.TRAINERS: "toolkit" is the trainer as `nas` runs it (torch.compile
    # only for runs of >= COMPILE_MIN_FLOPS training FLOPs); -eager / -compiled force it
    trainers: tuple[str, ...] = ("reference", "toolkit")

    def __post_init__(self) -> None:
        for name in ("ipc", "classes", "test_per_class", "epochs", "grid_epochs", "workers"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, "
                                 f"got {getattr(self, name)}")
        if self.resize is not None and self.resize < 1:
            raise InputError(f"--resize must be at least 1, got {self.resize}")
        if self.seed < 0:
            raise InputError(f"--seed must be >= 0, got {self.seed}")
        if self.device is not None:
            try:
                device = torch.device(self.device)
            except RuntimeError:
                raise InputError(f"--device {self.device!r} is no torch device; give cpu or "
                                 "cuda") from None
            if device.type == "cuda" and not torch.cuda.is_available():
                raise InputError("--device cuda: this machine has no CUDA device")

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device) if self.device else default_device()

    @classmethod
    def quick(cls, data: str | None = None) -> SpeedConfig:
        """Bounded form for CI: 16x16, one epoch, two architectures, a 2-network grid."""
        return cls(archs=("d1-w32-relu-none-avg", DEFAULT_ARCH), resize=16, epochs=1,
                   test_per_class=20, data=data, grid_archs=("d1-w32-relu-none-avg",) * 2,
                   grid_epochs=1)


@dataclass(frozen=True)
class TrainerRun:
    arch: str
    trainer: str
    images_per_second: float
    train_seconds: float
    wall_seconds: float  # training plus scoring the test images
    cpu_seconds: float  # CPU time (all threads) of training plus scoring; robust to load
    test_acc: float
    threads: int
    gflops: float  # achieved training GFLOP/s (3 x forward multiply-adds x 2), wall clock
    gflops_per_cpu_second: float  # training and scoring FLOPs / CPU seconds; robust to load
    bf16: bool = False  # trained under bf16 autocast (the reference never is)


@dataclass(frozen=True)
class GridRun:
    workers: int
    threads_per_worker: int
    architectures: int
    wall_seconds: float
    device: str = "cpu"

    @property
    def archs_per_hour(self) -> float:
        return self.architectures * 3600 / self.wall_seconds


@dataclass(frozen=True)
class SpeedReport:
    config: dict
    matmul_gflops: float  # float32, wall clock, all threads
    matmul_gflops_per_cpu_second: float
    bf16_matmul_gflops: float  # the same in bf16, the peak of runs with ``bf16`` set
    bf16_matmul_gflops_per_cpu_second: float
    runs: list[TrainerRun]
    grid: list[GridRun]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    data_source: str

    def speedup(self, arch: str, trainer: str = "toolkit", base: str = "reference") -> float:
        """Training images/s of ``trainer`` over ``base``'s (wall clock)."""
        rate = {r.trainer: r.images_per_second for r in self.runs if r.arch == arch}
        return rate[trainer] / rate[base]

    def cpu_saving(self, arch: str, trainer: str = "toolkit", base: str = "reference") -> float:
        """CPU seconds of ``base`` over ``trainer``'s (training and scoring)."""
        cpu = {r.trainer: r.cpu_seconds for r in self.runs if r.arch == arch}
        return cpu[base] / cpu[trainer]

    def peak(self, run: TrainerRun) -> tuple[float, float]:
        """The matmul GFLOP/s (per wall second, per CPU second) in ``run``'s precision."""
        if run.bf16:
            return self.bf16_matmul_gflops, self.bf16_matmul_gflops_per_cpu_second
        return self.matmul_gflops, self.matmul_gflops_per_cpu_second


def matmul_gflops(size: int = 1024, seconds: float = 2.0, dtype: torch.dtype = torch.float32
                  ) -> tuple[float, float]:
    """Sustained matmul GFLOP/s of this process (all its torch threads) in ``dtype``.

    Returns:
        (GFLOP per wall second, GFLOP per CPU second); the second is what a core delivers
        while it runs, so it stays meaningful when other processes share the machine.
    """
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)
    done, start, cpu = 0, time.perf_counter(), cpu_seconds()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        done += 1
    flops = 2 * size**3 * done / 1e9
    return flops / (time.perf_counter() - start), flops / (cpu_seconds() - cpu)


def synthetic_task(train_per_class: int, test_per_class: int, classes: int, size: int,
                   generator: torch.Generator, *, noise: float = 0.5
                   ) -> tuple[TensorPair, TensorPair]:
    """Class prototypes (smooth random patterns) plus Gaussian noise: a learnable image-like
    task that needs no files. ``noise`` sets its difficulty.

    Returns:
        (train images, labels), (test images, labels): float32 (N, 3, size, size), int64.
    """
    prototypes = torch.randn(classes, 3, 4, 4, generator=generator)

    def draw(per_class: int) -> TensorPair:
        labels = torch.arange(classes).repeat_interleave(per_class)
        base = torch.nn.functional.interpolate(prototypes[labels], size=(size, size),
                                               mode="bilinear", align_corners=False)
        return base + noise * torch.randn(base.shape, generator=generator), labels

    return draw(train_per_class), draw(test_per_class)


def recorded(config: Any) -> dict:
    """A speed or mix config as reports record it: the data path made portable."""
    return {**asdict(config), "data": config.data and portable_path(config.data)}


def bench_data(config: SpeedConfig) -> tuple[dict, str]:
    """A random class-balanced IPC set and a test set, standardised float32 tensors."""
    if config.data:
        from nas.api import load_data
        from nas.core.data import DataConfig

        data = load_data(DataConfig(
            path=config.data, resize=config.resize,
            classes=tuple(str(c) for c in range(config.classes)), per_class=config.ipc,
            test_per_class=config.test_per_class, val_fraction=0.0, split_seed=config.seed))
        return ({"train_images": data.normalize(data.train_images),
                 "train_labels": data.train_labels,
                 "test_images": data.normalize(data.test_images),
                 "test_labels": data.test_labels,
                 "num_classes": torch.tensor(data.num_classes)},
                f"random real IPC-{config.ipc} of {portable_path(config.data)}")
    generator = torch.Generator().manual_seed(config.seed)
    (x, y), (tx, ty) = synthetic_task(config.ipc, config.test_per_class, config.classes,
                                      config.resize or 32, generator)
    return ({"train_images": x, "train_labels": y, "test_images": tx, "test_labels": ty,
             "num_classes": torch.tensor(config.classes)},
            f"synthetic IPC-{config.ipc} ({config.classes} classes)")


def _run_trainer(kind: str, data_path: Path, arch: str, config: SpeedConfig,
                 forward_macs: int, n_images: int, n_test: int) -> TrainerRun:
    with tempfile.TemporaryDirectory(prefix="inductor-") as cache:  # compiles start cold
        out = subprocess.run(
            [sys.executable, "-m", "nas.bench.trainers", kind, str(data_path), arch,
             str(config.epochs), str(config.seed), str(config.torch_device)],
            capture_output=True, text=True, env={**child_env(), "TORCHINDUCTOR_CACHE_DIR": cache})
    if out.returncode:
        raise RuntimeError(f"{kind} trainer failed on {arch}:\n{out.stderr[-2000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    rate = config.epochs * n_images / r["train_seconds"]
    train_flops = 6 * forward_macs  # per image: forward, input and weight gradients, 2 per MAC
    all_flops = config.epochs * n_images * train_flops + n_test * 2 * forward_macs
    return TrainerRun(arch, kind, rate, r["train_seconds"], r["wall_seconds"], r["cpu_seconds"],
                      r["test_acc"], r["threads"], rate * train_flops / 1e9,
                      all_flops / r["cpu_seconds"] / 1e9, r.get("bf16", False))


def child_env() -> dict:
    """The parent's environment minus allocator overrides, so children start from defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


_GRID_DATA: dict = {}


def _grid_task(job: tuple[str, str, int, int, str]) -> float:
    """Train one architecture with the toolkit trainer in a pool worker; returns seconds."""
    path, arch, epochs, seed, device = job
    if path not in _GRID_DATA:
        _GRID_DATA[path] = torch.load(path, weights_only=True, map_location=device)
    data = _GRID_DATA[path]
    start = time.perf_counter()
    train(partial(make_net, arch, data), (data["train_images"], data["train_labels"]),
          TrainConfig(epochs=epochs), seed=seed,
          eval_sets={"test": (data["test_images"], data["test_labels"])}, device=device)
    return time.perf_counter() - start


def grid_throughput(data_path: Path, config: SpeedConfig, workers: int) -> GridRun:
    """Wall time to train ``config.grid_archs`` with ``workers`` processes sharing
    ``config``'s device (and the cores) as the toolkit places them."""
    place = placement(config.torch_device, workers)
    jobs = [(str(data_path), arch, config.grid_epochs, config.seed + i, str(place.device))
            for i, arch in enumerate(config.grid_archs)]
    with worker_pool(workers, threads_per_worker=place.threads) as pool:
        pool.map(_warm_up, [str(place.device)] * workers)  # start workers before the clock
        start = time.perf_counter()
        list(pool.imap_unordered(_grid_task, jobs))
        wall = time.perf_counter() - start
    return GridRun(workers, place.threads, len(jobs), wall, str(place.device))


def _warm_up(device: str) -> None:
    """Import the trainer and open ``device`` (a CUDA context): start-up, not grid time."""
    import nas.core.trainer  # noqa: F401

    torch.zeros(1, device=device)


def run_speed(config: SpeedConfig, *, log=print) -> SpeedReport:
    """Run both trainers on every architecture (interleaved, so shared-machine load hits
    both alike), then the worker grid; ``log`` receives one line per finished run."""
    load_before = os.getloadavg()
    data, source = bench_data(config)
    n = len(data["train_labels"])
    shape = dict(in_channels=data["train_images"].shape[1], num_classes=int(data["num_classes"]),
                 im_size=data["train_images"].shape[-1])
    gflops = (*matmul_gflops(), *matmul_gflops(dtype=torch.bfloat16))
    n_test = len(data["test_labels"])
    runs, grid = [], []
    with tempfile.TemporaryDirectory(prefix="nas-bench-") as tmp:
        path = Path(tmp) / "data.pt"
        torch.save(data, path)
        for i, arch in enumerate(config.archs):
            macs = count_macs(ConvNetSpec.parse(arch), **shape)
            order = config.trainers if i % 2 == 0 else config.trainers[::-1]
            for kind in order:
                runs.append(_run_trainer(kind, path, arch, config, macs, n, n_test))
                r = runs[-1]
                log(f"{arch:28s} {kind:9s} {r.images_per_second:8.0f} img/s "
                    f"{r.train_seconds:7.1f} s  {r.cpu_seconds:7.1f} cpu-s  "
                    f"test acc {r.test_acc:.3f}")
        for workers in sorted({1, placement(config.torch_device, config.workers).workers}):
            grid.append(grid_throughput(path, config, workers))
            g = grid[-1]
            log(f"grid: {g.workers} worker(s) x {g.threads_per_worker} thread(s): "
                f"{g.architectures} archs in {g.wall_seconds:.1f} s")
    return SpeedReport(recorded(config), *gflops, runs, grid, load_before, os.getloadavg(),
                       source)
