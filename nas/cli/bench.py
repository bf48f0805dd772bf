"""``nas bench fidelity|speed`` and ``nas demo``: the benchmarks and the end-to-end demo."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from nas.analysis.render import check_out_dir
from nas.bench import fidelity, named, search_outcome, tables, two_stage
from nas.bench import frontier as frontier_bench
from nas.bench import zero_cost_literature as literature
from nas.bench.mix import MixConfig, MixReport, run_mix
from nas.bench.speed import DEFAULT_ARCH, SpeedConfig, SpeedReport, run_speed
from nas.bench.trainers import TRAINERS
from nas.bench.zero_cost_literature import LiteratureConfig
from nas.cli.common import (
    add_data_path,
    add_db,
    add_threads,
    add_where,
    add_workers,
    console,
    workers_of,
)
from nas.cli.truth import show_report
from nas.core.data.source import shared_cifar10_candidates
from nas.core.parallel import GPU_WORKERS
from nas.core.runtime import default_device, device_name, machine, versions
from nas.demo import DemoConfig, run_demo
from nas.errors import InputError
from storage import default_url


def _add_run_flags(parser: argparse.ArgumentParser, outputs: str) -> None:
    """--out (where ``outputs`` go), --db, --workers, --threads and --data of a measurement."""
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"),
                        help=f"directory for {outputs}")
    add_db(parser)
    add_workers(parser)
    add_threads(parser)
    add_data_path(parser)


def _write_result(stem: Path, result, markdown: Callable, plot: Callable | None = None) -> None:
    """``stem``.json (every number: ``result``, a dict or a typed result's ``to_dict()``), .md
    (the table, also printed) and .png (the figure)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    stored = result if isinstance(result, dict) else result.to_dict()
    stem.with_suffix(".json").write_text(json.dumps(stored, indent=1))
    table = markdown(result)
    stem.with_suffix(".md").write_text(table)
    if plot is not None:
        plot(result, stem.with_suffix(".png"))
    console.print(table)


class BenchCommand:
    help = "benchmarks: proxy fidelity presets and trainer speed"

    def __init__(self) -> None:
        self.benchmarks = {"fidelity": FidelityBenchCommand(), "speed": SpeedBenchCommand(),
                           "nb201-zero-cost": ZeroCostLiteratureCommand(),
                           "frontier": FrontierCommand(),
                           "search-outcome": SearchOutcomeCommand(),
                           "two-stage": TwoStageCommand(), "tables": TablesCommand()}

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="benchmark", required=True)
        for name, command in self.benchmarks.items():
            command.add_arguments(sub.add_parser(name, help=command.help,
                                                 description=command.help))

    def take_action(self, args: argparse.Namespace) -> int:
        return self.benchmarks[args.benchmark].take_action(args)


class FidelityBenchCommand:
    help = f"proxy fidelity presets: nas bench fidelity --preset {'|'.join(fidelity.PRESETS)}"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--preset", default="tiny", help=f"one of {list(fidelity.PRESETS)}")
        parser.add_argument("--out", type=Path, default=None,
                            help="report directory (default: report-<preset>/ beside the "
                                 "database)")
        add_db(parser)
        add_threads(parser)
        add_workers(parser)
        add_data_path(parser)
        group = parser.add_argument_group("overrides of preset fields (a smaller run)")
        for flag in ("resize", "per-class", "test-per-class", "sample", "ipc", "proxy-epochs",
                     "truth-epochs", "zero-cost-batches", "seed", "second-seed-sample"):
            group.add_argument(f"--{flag}", type=int, default=None)
        group.add_argument("--max-macs", type=float, default=None,
                           help="leave out sampled architectures costing more multiply-adds "
                                "per image")
        add_where(group)
        group.add_argument("--proxies", nargs="+", default=None, help="data proxy methods")
        group.add_argument("--zero-cost", nargs="*", default=None,
                           help="zero-cost methods (the flag alone: none)")
        group.add_argument("--elf", nargs="*", default=None,
                           help="proxies also trained with ELF (the flag alone: none)")
        group.add_argument("--option", action="append", default=[], metavar="METHOD.KEY=JSON",
                           help="proxy build option, e.g. --option d2m.iterations=200")

    def take_action(self, args: argparse.Namespace) -> int:
        preset = fidelity.get_preset(args.preset)
        workers = workers_of(args)
        changes = {f.name: getattr(args, f.name) for f in dataclasses.fields(preset)
                   if getattr(args, f.name, None) is not None}
        options = {m: dict(o) for m, o in preset.proxy_options.items()}
        for item in args.option:
            method, key, value = parse_option(item)
            options.setdefault(method, {})[key] = value
        for name in ("proxies", "zero_cost", "where", "elf"):
            if name in changes:
                changes[name] = tuple(changes[name])
        preset = dataclasses.replace(preset, **changes, proxy_options=options)
        if args.out is not None:
            check_out_dir(args.out)
        report, paths = fidelity.run_fidelity(args.db, preset, args.out, data_path=args.data,
                                              name=args.preset, note=console.print,
                                              workers=workers)
        return show_report(report, paths)


def parse_option(item: str) -> tuple[str, str, object]:
    """``"d2m.iterations=200"`` -> ``("d2m", "iterations", 200)`` (JSON values, else text)."""
    head, sep, raw = item.partition("=")
    method, dot, key = head.partition(".")
    if not (sep and dot and method and key):
        raise InputError(f"--option {item!r} must look like METHOD.KEY=VALUE, "
                         "e.g. d2m.iterations=200")
    try:
        return method, key, json.loads(raw)
    except json.JSONDecodeError:
        return method, key, raw


def _default_speed_data() -> str | None:
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
                            help="worker processes of the grid comparison (default: all cores "
                                 f"on a CPU, {GPU_WORKERS} sharing the GPU on CUDA)")
        parser.add_argument("--device", default=None,
                            help="where every run trains, e.g. cpu or cuda (default: CUDA "
                                 "when available, else the CPU)")
        parser.add_argument("--grid-archs", nargs="+", default=None,
                            help="architectures of the grid comparison")
        parser.add_argument("--grid-epochs", type=int, default=None)
        parser.add_argument("--trainers", nargs="+", default=None, choices=list(TRAINERS),
                            help="trainers to compare (default: reference toolkit; toolkit "
                                 "compiles only runs long enough to repay it)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", default=None, help="also write the report to this file")
        add_threads(parser)
        mix = parser.add_argument_group(
            "architectures/hour on a NAS mix (--mix): the cpu preset's ConvNets and "
            "NAS-Bench-201 cells, toolkit vs a one-at-a-time loop")
        mix.add_argument("--mix", action="store_true", help="run the mix benchmark")
        mix.add_argument("--convnets", type=int, default=MixConfig.convnets)
        mix.add_argument("--cells", type=int, default=MixConfig.cells)
        mix.add_argument("--stacked-seeds", type=int, default=MixConfig.stacked_seeds,
                         help="seeds per architecture stacked in one step vs one at a time "
                              "(0: skip)")

    def take_action(self, args: argparse.Namespace) -> int:
        data = None if args.synthetic else (args.data or _default_speed_data())
        if args.mix:
            return self._mix(args, data)
        config = SpeedConfig.quick(data) if args.quick else SpeedConfig(data=data)
        overrides = {k: v for k, v in (("archs", tuple(args.archs or ()) or None),
                                       ("epochs", args.epochs), ("ipc", args.ipc),
                                       ("resize", args.resize), ("workers", args.workers),
                                       ("trainers", tuple(args.trainers or ()) or None),
                                       ("device", args.device),
                                       ("grid_archs", tuple(args.grid_archs or ()) or None),
                                       ("grid_epochs", args.grid_epochs))
                     if v is not None}
        config = dataclasses.replace(config, seed=args.seed, **overrides)
        report = run_speed(config, log=console.print)
        print_speed_report(report)
        if args.json:
            _write_json(args.json, dataclasses.asdict(report))
        return 0

    def _mix(self, args: argparse.Namespace, data: str | None) -> int:
        overrides = {k: v for k, v in (("epochs", args.epochs), ("ipc", args.ipc),
                                       ("resize", args.resize), ("workers", args.workers))
                     if v is not None}
        report = run_mix(MixConfig(convnets=args.convnets, cells=args.cells, seed=args.seed,
                                   data=data, stacked_seeds=args.stacked_seeds, **overrides),
                         log=console.print)
        print_mix_report(report)
        if args.json:
            _write_json(args.json, {**dataclasses.asdict(report), "ratio": report.ratio(),
                                    "ceiling": report.ceiling()})
        return 0


def _write_json(path: str, report: dict) -> None:
    """Write a speed report with the library versions and the machine it was measured on."""
    environment = {"versions": versions(), "device": device_name(torch.device("cpu")),
                   "cpus": os.cpu_count(), "machine": machine(),
                   "default_device": device_name(default_device())}
    Path(path).write_text(json.dumps({**report, "environment": environment}, indent=1))


def print_mix_report(report: MixReport) -> None:
    c = report.config
    table = Table("trainer", "architectures", "wall s", "archs/hour", "mean test acc",
                  "GFLOP/s", "matmul GFLOP/s", "of matmul", "one core, largest net",
                  title=f"{c['convnets']} convnet720 + {c['cells']} NAS-Bench-201 on "
                        f"{report.data_source} at {c['resize']}x{c['resize']}, "
                        f"{c['epochs']} epochs")
    for r in report.runs:
        how = (f"toolkit ({c['workers']} workers x 1 thread)" if r.trainer == "toolkit"
               else "reference (one at a time)") + (", bf16" if r.bf16 else ", float32")
        table.add_row(how, str(r.architectures), f"{r.wall_seconds:.1f}",
                      f"{r.archs_per_hour:.0f}", f"{r.mean_test_acc:.3f}", f"{r.gflops:.1f}",
                      f"{r.matmul_gflops:.0f}", f"{r.gflops / r.matmul_gflops:.0%}",
                      f"{r.core_gflops:.1f}")
    (console if console.is_terminal else Console(width=140)).print(table)
    console.print(f"architectures/hour: toolkit / reference = {report.ratio():.2f}x; "
                  f"ceiling {report.ceiling():.2f}x ({c['workers']} cores each training at "
                  f"the largest network's one-core rate, over the reference's GFLOP/s)")
    for r in report.seed_repeats:
        console.print(f"seed repeats, {r.arch}: {r.seeds} seeds stacked in one step "
                      f"{r.stacked_seconds:.1f} s vs one at a time "
                      f"{r.one_at_a_time_seconds:.1f} s ({r.speedup:.2f}x; one thread)")
    console.print(f"load average before {report.load_before[0]:.2f}, "
                  f"after {report.load_after[0]:.2f}")


def print_speed_report(report: SpeedReport) -> None:
    out = console if console.is_terminal else Console(width=140)  # logs: keep the table whole
    table = Table("architecture", "trainer", "precision", "img/s", "train s", "wall s", "cpu s",
                  "test acc", "threads", "GFLOP/s", "of matmul", "GFLOP/cpu-s", "of matmul/cpu-s",
                  title=f"speed on {report.data_source}, {report.config['epochs']} epochs; "
                        f"matmul {report.matmul_gflops:.0f} GFLOP/s, "
                        f"{report.matmul_gflops_per_cpu_second:.0f} GFLOP/cpu-s in float32, "
                        f"{report.bf16_matmul_gflops:.0f} and "
                        f"{report.bf16_matmul_gflops_per_cpu_second:.0f} in bf16")
    for r in report.runs:
        peak, peak_per_cpu_second = report.peak(r)
        table.add_row(r.arch, r.trainer, "bf16" if r.bf16 else "float32",
                      f"{r.images_per_second:.0f}", f"{r.train_seconds:.1f}",
                      f"{r.wall_seconds:.1f}", f"{r.cpu_seconds:.1f}", f"{r.test_acc:.3f}",
                      str(r.threads), f"{r.gflops:.1f}", f"{r.gflops / peak:.0%}",
                      f"{r.gflops_per_cpu_second:.1f}",
                      f"{r.gflops_per_cpu_second / peak_per_cpu_second:.0%}")
    out.print(table)
    for g in report.grid:
        out.print(f"grid on {g.device}: {g.workers} worker(s) x {g.threads_per_worker} "
                  f"thread(s): {g.archs_per_hour:.0f} architectures/hour")
    if len(report.grid) == 2:
        out.print(f"grid speedup {report.grid[1].workers} workers vs 1: "
                  f"{report.grid[0].wall_seconds / report.grid[1].wall_seconds:.2f}x")
    ran = list(dict.fromkeys(r.trainer for r in report.runs))
    base = "reference" if "reference" in ran else ran[0]  # e.g. toolkit vs toolkit-compiled
    for arch in dict.fromkeys(r.arch for r in report.runs):
        marker = " (default architecture)" if arch == DEFAULT_ARCH else ""
        for trainer in (t for t in ran if t != base):
            out.print(f"ratio {arch}: {trainer} / {base} = "
                      f"{report.speedup(arch, trainer, base):.2f}x (CPU time "
                      f"{report.cpu_saving(arch, trainer, base):.2f}x less){marker}")
    out.print(f"load average before {report.load_before[0]:.2f}, "
              f"after {report.load_after[0]:.2f} ({report.grid[-1].workers} workers)")


class ZeroCostLiteratureCommand:
    """``nas bench nb201-zero-cost``: zero-cost baselines on NAS-Bench-201 cells against the
    published correlations (``nas.bench.zero_cost_literature``)."""

    help = "zero-cost baselines on NAS-Bench-201 vs their published Spearman correlations"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--sample", type=int, default=LiteratureConfig.sample,
                            help="random cells (the papers used all 15,625)")
        parser.add_argument("--seed", type=int, default=LiteratureConfig.seed)
        parser.add_argument("--methods", nargs="+", default=list(LiteratureConfig.methods))
        parser.add_argument("--time-limit", type=float, default=None,
                            help="seconds; each method scores the part of the sample that fits")
        add_threads(parser)
        add_data_path(parser)
        parser.add_argument("--benchmark-data", default=None,
                            help="NAS-Bench-201 table (default: $NAS_NB201, shared, packaged)")
        parser.add_argument("--out", type=Path,
                            default=Path("benchmarks/results/nb201-zero-cost.json"))
        parser.add_argument("--resume", action="store_true",
                            help="keep the cells --out already scored, score the rest")
        parser.add_argument("--finalize", action="store_true",
                            help="only recompute the intervals and table of --out")

    def take_action(self, args: argparse.Namespace) -> int:
        cfg = LiteratureConfig(sample=args.sample, seed=args.seed,
                               methods=tuple(args.methods), time_limit_s=args.time_limit)
        result = literature.finalize(args.out, args.benchmark_data) if args.finalize else \
            literature.run(cfg, args.out, data_path=args.data, table_path=args.benchmark_data,
                resume=args.resume)
        console.print(literature.markdown(result))
        return 0


class FrontierCommand:
    """``nas bench frontier``: proxy-training recipes inside a zero-cost prefilter's top
    NAS-Bench-201 cells, Spearman against CPU-seconds (``nas.bench.frontier``)."""

    help = "NAS-Bench-201: recipes ranking the zero-cost prefilter's top cells, per CPU-second"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--space", choices=["nb201"], default="nb201")
        parser.add_argument("--scores", default=frontier_bench.FrontierConfig.scores,
                            help="per-cell zero-cost scores (`nas bench nb201-zero-cost`)")
        parser.add_argument("--top-fraction", type=float,
                            default=frontier_bench.FrontierConfig.top_fraction)
        parser.add_argument("--recipes", nargs="+", default=None, metavar="NAME",
                            help="recipes of nas/bench/experiments/frontier.toml (default: "
                                 f"all): {', '.join(named.names('frontier'))}")
        _add_run_flags(parser, "nb201-frontier.json/.md/.png")

    def take_action(self, args: argparse.Namespace) -> int:
        recipes = frontier_bench.recipes(args.recipes)  # an unknown name fails first
        cfg = frontier_bench.FrontierConfig(scores=args.scores, top_fraction=args.top_fraction)
        check_out_dir(args.out)
        result = frontier_bench.run_frontier(args.db, cfg, recipes, data_path=args.data,
                                             workers=workers_of(args), note=console.print)
        _write_result(args.out / "nb201-frontier", result, frontier_bench.markdown,
                      frontier_bench.plot)
        return 0


class TwoStageCommand:
    """``nas bench two-stage``: a zero-cost prefilter, proxy training, and a calibration that
    picks which to trust, judged against each stage alone (``nas.bench.two_stage``)."""

    help = "zero-cost prefilter + proxy training, the regime picked by calibration, judged"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        base = two_stage.TwoStageConfig
        parser.add_argument("--space", choices=["nb201", "convnet720"], default="nb201")
        parser.add_argument("--sample", type=int, default=base.sample,
                            help="nb201: cells drawn uniformly (convnet720: the truth's archs)")
        parser.add_argument("--keep", type=float, default=base.keep,
                            help="the prefilter's top fraction trained on the proxy")
        parser.add_argument("--calibration", type=int, default=base.calibration,
                            help="candidates trained on the full split to pick the regime")
        parser.add_argument("--calibration-epochs", type=int, default=base.calibration_epochs)
        parser.add_argument("--inner", choices=two_stage.INNER_RULES, default=base.inner,
                            help="order inside the prefilter's top: ensemble+proxy rank sum, "
                                 "or the proxy alone")
        parser.add_argument("--regime", choices=two_stage.REGIMES, default=base.regime,
                            help="auto: the calibration decides; or force one")
        parser.add_argument("--proxy", default=base.proxy_method, help="proxy method")
        parser.add_argument("--ipc", type=int, default=base.ipc)
        parser.add_argument("--epochs", type=int, default=base.epochs, help="proxy training")
        parser.add_argument("--truth", default=None,
                            help="convnet720: ground-truth CSV (default: the cpu-full truth)")
        parser.add_argument("--no-compare", action="store_true",
                            help="skip training the proxy on every candidate to judge it")
        _add_run_flags(parser, "two-stage-<space>.json/.md")

    def take_action(self, args: argparse.Namespace) -> int:
        given = {"sample": args.sample, "keep": args.keep, "calibration": args.calibration,
                 "calibration_epochs": args.calibration_epochs, "inner": args.inner,
                 "regime": args.regime,
                 "proxy_method": args.proxy, "ipc": args.ipc, "epochs": args.epochs,
                 "compare": not args.no_compare}
        defaults = two_stage.SPACE_DEFAULTS[args.space]
        truth = {"truth": args.truth} if args.truth else {}
        cfg = two_stage.TwoStageConfig(space=args.space, **{**defaults, **given, **truth})
        check_out_dir(args.out)
        result = two_stage.run_two_stage(args.db, cfg, data_path=args.data,
                                         workers=workers_of(args), note=console.print)
        _write_result(args.out / f"two-stage-{args.space}", result, two_stage.markdown)
        return 0


class TablesCommand:
    """``nas bench tables``: the tables generated from the results' JSON, rewritten in place
    between their markers in README.md and docs (``nas.bench.tables``)."""

    help = "rewrite the tables generated from benchmarks/results/*.json (--check: only compare)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--check", action="store_true",
                            help="change nothing; list each block that differs, exit 1 if any")
        parser.add_argument("--root", type=Path, default=Path("."),
                            help="the repository's root (default: here)")

    def take_action(self, args: argparse.Namespace) -> int:
        missing = [f for f in tables.FILES if not (args.root / f).is_file()]
        if missing:
            raise InputError(f"--root {args.root} lacks {', '.join(missing)}; run from the "
                             "repository's root or give --root")
        if args.check:
            stale = tables.stale(args.root)
            for line in stale:
                console.print(f"differs from its JSON: {line}; run `nas bench tables`")
            return 1 if stale else 0
        for path in tables.write(args.root):
            console.print(f"rewrote {path}")
        return 0


class DemoCommand:
    help = "run the whole pipeline on real CIFAR-10 at a 2-core scale (a few minutes)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_db(parser)
        add_data_path(parser)
        add_threads(parser)

    def take_action(self, args: argparse.Namespace) -> int:
        db, report, paths = run_demo(DemoConfig(), data_path=args.data, db_url=args.db)
        console.print(f"database: {db.safe_url}")
        show_report(report, paths)
        console.print(f"the demo's trainings are Optuna studies; browse them with "
                      f"`nas dashboard --db {db.safe_url}`")
        return 0


class SearchOutcomeCommand:
    """``nas bench search-outcome``: strategies judged by the published accuracy of the cell
    each returns, beside published searches (``nas.bench.search_outcome``)."""

    help = "NAS-Bench-201: the published accuracy of the cell each search returns"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--space", choices=["nb201"], default="nb201")
        parser.add_argument("--contenders", nargs="+", default=None, metavar="NAME",
                            help="contenders of nas/bench/experiments/contenders.toml: "
                                 f"{', '.join(named.names('contenders'))}")
        parser.add_argument("--seeds", type=int, default=search_outcome.OutcomeConfig.seeds)
        parser.add_argument("--budget", type=float, default=search_outcome.OutcomeConfig.budget,
                            help="charged CPU-seconds per search")
        _add_run_flags(parser, "nb201-search-outcome.json/.md/.png")

    def take_action(self, args: argparse.Namespace) -> int:
        for name in args.contenders or ():
            search_outcome.contender(name)  # an unknown name fails before anything is read
        changes = {"contenders": tuple(args.contenders)} if args.contenders else {}
        cfg = search_outcome.OutcomeConfig(seeds=args.seeds, budget=args.budget, **changes)
        check_out_dir(args.out)
        db = args.db or default_url()
        result = search_outcome.run_outcome(db, cfg, data_path=args.data,
                                            workers=workers_of(args), note=console.print)
        _write_result(args.out / "nb201-search-outcome", result, search_outcome.markdown,
                      search_outcome.plot)
        return 0
