"""nas bench speed: the fast trainer learns what the plain loop learns; the benchmark runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import partial
from pathlib import Path
from statistics import mean, stdev

import pytest
import torch

from nas.bench.mix import MixConfig
from nas.bench.speed import SpeedConfig, recorded, synthetic_task
from nas.bench.trainers import reference, with_published_layers
from nas.core.stacked import train_stacked
from nas.core.trainer import TrainConfig, train
from search_spaces import build_convnet, build_nb201
from search_spaces.nb201 import AvgPool3x3

ROOT = Path(__file__).resolve().parents[2]
ARCH, CLASSES, SIZE, SEEDS = "d1-w32-relu-instance-avg", 4, 16, range(6)


def _accuracies(config: TrainConfig) -> tuple[list[float], list[float]]:
    """Test accuracy per seed of the reference loop and of the toolkit trainer."""
    # noise 8: ~70% accuracy after 10 epochs, far from both chance (25%) and 100%
    (x, y), (tx, ty) = synthetic_task(20, 100, CLASSES, SIZE, torch.Generator().manual_seed(0),
                                      noise=8.0)
    data = {"train_images": x, "train_labels": y, "test_images": tx, "test_labels": ty,
            "num_classes": torch.tensor(CLASSES)}
    make = partial(build_convnet, ARCH, num_classes=CLASSES, im_size=SIZE)
    ref = [reference(data, ARCH, config, seed)["test_acc"] for seed in SEEDS]
    fast = [train(make, (x, y), config, seed=seed, eval_sets={"test": (tx, ty)})
            .accuracies["test"] for seed in SEEDS]
    stacked = [r.accuracies["test"] for r in train_stacked(
        make, (x, y), config, seeds=SEEDS, eval_sets={"test": (tx, ty)})]
    return ref, fast, stacked


@pytest.mark.slow
def test_toolkit_trainer_reaches_the_reference_loops_accuracy_within_seed_noise():
    config = TrainConfig(epochs=10, batch_size=16)
    ref, fast, stacked = _accuracies(config)
    assert mean(ref) > 0.45  # both learn: well above chance (0.25)
    # the seeds trained together in one step are the one-at-a-time runs (tests/core)
    assert stacked == pytest.approx(fast, abs=0.02)
    # Same seeds, different batch order and augmentation draws: the mean accuracies may
    # differ by seed noise only. Tolerance: 3 standard errors of the difference of means,
    # from the seed-to-seed spread measured here (about 0.04 -> about 0.07).
    tolerance = 3 * (stdev(ref) ** 2 / len(ref) + stdev(fast) ** 2 / len(fast)) ** 0.5
    assert abs(mean(fast) - mean(ref)) <= tolerance
    # The test can fail: a trainer whose learning rate is 5x too small (a realistic scaling
    # bug) loses about 0.13 and falls outside the tolerance.
    _, slow_lr, _ = _accuracies(TrainConfig(epochs=10, batch_size=16, lr=config.lr / 5))
    assert mean(ref) - mean(slow_lr) > tolerance


def test_reference_trains_the_published_layers_and_computes_the_same_network():
    cell = ("|avg_pool_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|"
            "+|skip_connect~0|avg_pool_3x3~1|none~2|")  # node 2 cannot change the output
    net = build_nb201(cell, im_size=8).eval()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    ours = net(x)
    published = with_published_layers(net)
    pools = [m for m in published.modules() if isinstance(m, torch.nn.AvgPool2d)
             and m.kernel_size == 3]
    assert len(pools) == 3 * 5 * 3  # three per cell, 15 cells
    assert not any(isinstance(m, AvgPool3x3) for m in published.modules())
    assert torch.allclose(published(x), ours, atol=1e-5)
    relus = [m for m in published.modules() if isinstance(m, torch.nn.ReLU)]
    calls = []
    for m in relus:
        m.register_forward_hook(lambda *_: calls.append(1))
    published.train()(x).sum().backward()  # while training too, every edge runs
    assert len(calls) == len(relus)


def _nas(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.mark.slow
def test_quick_speed_benchmark_prints_both_trainers_and_the_ratio_line():
    out = _nas("bench", "speed", "--quick", "--synthetic", "--workers", "2")
    assert out.returncode == 0, out.stderr
    for trainer in ("reference", "toolkit"):
        assert re.search(rf"d3-w128-relu-instance-avg\s+{trainer}\s+\d+ img/s", out.stdout)
    ratio = re.search(r"ratio d3-w128-relu-instance-avg: toolkit / reference = ([\d.]+)x ",
                      out.stdout)
    assert ratio and float(ratio.group(1)) > 0
    assert re.search(r"grid on cpu: 2 worker\(s\) x 1 thread\(s\): \d+ architectures/hour",
                     out.stdout)
    assert "matmul" in out.stdout


def test_speed_benchmark_rejects_zero_epochs_with_a_one_line_error():
    out = _nas("bench", "speed", "--quick", "--synthetic", "--epochs", "0")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "--epochs" in out.stderr


@pytest.mark.slow
def test_mix_benchmark_trains_both_spaces_both_ways_and_reports_archs_per_hour(tmp_path):
    path = tmp_path / "mix.json"
    out = _nas("bench", "speed", "--mix", "--synthetic", "--convnets", "1", "--cells", "1",
               "--epochs", "1", "--stacked-seeds", "2", "--workers", "2", "--json", str(path))
    assert out.returncode == 0, out.stderr
    report = json.loads(path.read_text())
    runs = {r["trainer"]: r for r in report["runs"]}
    assert set(runs) == {"toolkit", "reference"}
    assert all(r["architectures"] == 2 and r["gflops"] > 0 and r["matmul_gflops"] > 0
               and r["core_gflops"] > 0 for r in runs.values())  # machine rates per run
    rate = {k: r["architectures"] * 3600 / r["wall_seconds"] for k, r in runs.items()}
    assert report["ratio"] == pytest.approx(rate["toolkit"] / rate["reference"])
    reference = runs["reference"]
    assert report["ceiling"] == pytest.approx(2 * reference["core_gflops"] / reference["gflops"])
    assert re.search(r"architectures/hour: toolkit / reference = [\d.]+x; ceiling [\d.]+x",
                     out.stdout)
    environment = report["environment"]  # what the numbers were measured with
    assert environment["versions"]["torch"] == torch.__version__
    assert environment["cpus"] == os.cpu_count() and environment["device"].startswith("cpu")
    repeats = report["seed_repeats"]
    assert [r["arch"][0] for r in repeats] == ["d", "|"]  # a ConvNet and a NAS-Bench-201 cell
    assert all(r["seeds"] == 2 and r["stacked_seconds"] > 0 for r in repeats)


def test_mix_benchmark_rejects_a_single_stacked_seed_with_a_one_line_error():
    out = _nas("bench", "speed", "--mix", "--synthetic", "--stacked-seeds", "1")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "--stacked-seeds" in out.stderr


def test_speed_reports_record_the_data_path_relative_to_the_repository():
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cifar10"
    for config in (SpeedConfig(data=str(shared)), MixConfig(data=str(shared))):
        assert recorded(config)["data"] == "../shared/data/cifar10"
    assert recorded(SpeedConfig(data=None))["data"] is None  # synthetic tensors
