"""``nas bench speed``: the speed benchmark's command (flags -> SpeedConfig -> table)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from nas.bench.speed import DEFAULT_ARCH, SpeedConfig, SpeedReport, run_speed
from nas.bench.trainers import TRAINERS
from nas.data.source import shared_cifar10_candidates

console = Console(width=140)  # the report table is wide; keep it whole in CI logs


def _default_data() -> str | None:
    for candidate in shared_cifar10_candidates():
        if (candidate / "train").is_dir():
            return str(candidate.resolve())
    return None


class SpeedBenchCommand:
    help = "trainer speed: the toolkit's trainer vs a plain PyTorch loop, side by side"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--quick", action="store_true",
                            help="bounded form for CI (16x16, 1 epoch, 2 architectures)")
        parser.add_argument("--data", default=None,
                            help="image dataset directory (default: the shared CIFAR-10 when "
                                 "present, else synthetic tensors)")
        parser.add_argument("--synthetic", action="store_true", help="use synthetic tensors")
        parser.add_argument("--archs", nargs="+", default=None, help="architecture ids")
        parser.add_argument("--epochs", type=int, default=None)
        parser.add_argument("--ipc", type=int, default=None, help="images per class")
        parser.add_argument("--resize", type=int, default=None, help="resize images to SxS")
        parser.add_argument("--workers", type=int, default=None,
                            help="worker processes of the grid comparison (default: cores)")
        parser.add_argument("--trainers", nargs="+", default=None, choices=list(TRAINERS),
                            help="trainers to compare (default: reference toolkit; toolkit "
                                 "compiles only runs long enough to repay it)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", default=None, help="also write the report to this file")
        parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)

    def take_action(self, args: argparse.Namespace) -> int:
        data = None if args.synthetic else (args.data or _default_data())
        config = SpeedConfig.quick(data) if args.quick else SpeedConfig(data=data)
        overrides = {k: v for k, v in (("archs", tuple(args.archs or ()) or None),
                                       ("epochs", args.epochs), ("ipc", args.ipc),
                                       ("resize", args.resize), ("workers", args.workers),
                                       ("trainers", tuple(args.trainers or ()) or None))
                     if v is not None}
        config = replace(config, seed=args.seed, **overrides)
        if config.epochs < 1 or config.ipc < 1 or config.workers < 1:
            raise ValueError("--epochs, --ipc and --workers must be at least 1")
        report = run_speed(config, log=console.print)
        print_report(report)
        if args.json:
            Path(args.json).write_text(json.dumps(asdict(report), indent=1))
        return 0


def print_report(report: SpeedReport) -> None:
    table = Table("architecture", "trainer", "img/s", "train s", "wall s", "cpu s", "test acc",
                  "threads", "GFLOP/s", "of matmul", "GFLOP/cpu-s", "of matmul/cpu-s",
                  title=f"speed on {report.data_source}, {report.config['epochs']} epochs; "
                        f"matmul {report.matmul_gflops:.0f} GFLOP/s, "
                        f"{report.matmul_gflops_per_cpu_second:.0f} GFLOP/cpu-s")
    for r in report.runs:
        table.add_row(r.arch, r.trainer, f"{r.images_per_second:.0f}", f"{r.train_seconds:.1f}",
                      f"{r.wall_seconds:.1f}", f"{r.cpu_seconds:.1f}", f"{r.test_acc:.3f}",
                      str(r.threads),
                      f"{r.gflops:.1f}", f"{r.gflops / report.matmul_gflops:.0%}",
                      f"{r.gflops_per_cpu_second:.1f}",
                      f"{r.gflops_per_cpu_second / report.matmul_gflops_per_cpu_second:.0%}")
    console.print(table)
    for g in report.grid:
        console.print(f"grid: {g.workers} worker(s) x {g.threads_per_worker} thread(s): "
                      f"{g.archs_per_hour:.0f} architectures/hour")
    if len(report.grid) == 2:
        console.print(f"grid speedup {report.grid[1].workers} workers vs 1: "
                      f"{report.grid[0].wall_seconds / report.grid[1].wall_seconds:.2f}x")
    trainers = [t for t in dict.fromkeys(r.trainer for r in report.runs) if t != "reference"]
    for arch in dict.fromkeys(r.arch for r in report.runs):
        marker = " (default architecture)" if arch == DEFAULT_ARCH else ""
        for trainer in trainers:
            console.print(f"ratio {arch}: {trainer} / reference = "
                          f"{report.speedup(arch, trainer):.2f}x (CPU time "
                          f"{report.cpu_saving(arch, trainer):.2f}x less){marker}")
    console.print(f"load average before {report.load_before[0]:.2f}, "
                  f"after {report.load_after[0]:.2f} ({report.config['workers']} workers)")
