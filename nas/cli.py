"""``nas`` command line: each subcommand turns flags into configs, calls nas.api, prints."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from nas import api, ground_truth
from nas.analysis.render import rich_table, write_report
from nas.analysis.report import TRUTH_METRICS, ReportConfig, build_report
from nas.bench import fidelity as bench
from nas.bench.zero_cost_literature import ZeroCostLiteratureCommand
from nas.commands_bench import SpeedBenchCommand
from nas.commands_distill import DistillCommand, PretrainCommand
from nas.data import DataConfig, DataError, resolve_data_path
from nas.demo import DemoConfig, run_demo
from nas.elf import ElfConfig
from nas.engines import SearchError, UnknownStrategyError, attach_full_accuracy
from nas.engines.commands import DashboardCommand, SearchCommand
from nas.engines.nni_engine import MissingExtraError
from nas.published import METRICS as PUBLISHED
from nas.published import load_nb201, record_published
from nas.runtime import configure
from nas.selection import select_architectures
from nas.trainer import COMPILE_MIN_FLOPS, TrainConfig
from proxies import UnknownProxyError, get_proxy, list_proxies
from search_spaces import InvalidArchitectureError, UnknownSpaceError, get_space, list_spaces
from storage import Database, StorageError, list_datasets, list_runs
from storage import list_proxies as stored_proxies

console = Console()
USER_ERRORS = (DataError, InvalidArchitectureError, UnknownSpaceError, UnknownProxyError,
               StorageError, ValueError, UnknownStrategyError, MissingExtraError, SearchError)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=None,
                        help="SQLAlchemy URL (default: $NAS_DB or sqlite:///nas-runs/nas.db)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    group = parser.add_argument_group("dataset")
    group.add_argument("--data", default=None,
                       help="dataset directory (default: $NAS_DATA, ../shared/data/cifar10, "
                            "else download CIFAR-10)")
    group.add_argument("--resize", type=int, default=None, help="resize images to SxS")
    group.add_argument("--classes", nargs="+", default=None, help="class names or indices")
    group.add_argument("--per-class", type=int, default=None,
                       help="train images kept per class (before the val split)")
    group.add_argument("--test-per-class", type=int, default=None,
                       help="test images kept per class")
    group.add_argument("--val-fraction", type=float, default=0.1)
    group.add_argument("--split-seed", type=int, default=0)


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", default="convnet720", help=f"one of {list_spaces()}")
    parser.add_argument("--archs", nargs="+", default=None, help="architecture ids")
    parser.add_argument("--sample", type=int, default=None,
                        help="stratified sample of N architectures (default: the whole space)")
    parser.add_argument("--where", nargs="+", default=None, metavar="FACTOR=V1,V2",
                        help="restrict the space, e.g. --where width=32,64 pooling=avg,max")
    parser.add_argument("--seed", type=int, default=0, help="sample and training seed")


def _add_training(parser: argparse.ArgumentParser, epochs: int) -> None:
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--augment", default=TrainConfig.augment,
                        help="DSA strategy, or 'none'")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile the training step (default: only for runs of at "
                             f"least {COMPILE_MIN_FLOPS:.0e} training FLOPs)")


def _add_elf(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ELF (features of a real-data ConvNet-3 as extra targets)")
    group.add_argument("--elf", action="store_true", help="train candidates with ELF")
    group.add_argument("--elf-front", type=float, default=ElfConfig.front, help="lambda_front")
    group.add_argument("--elf-rear", type=float, default=ElfConfig.rear, help="lambda_rear")
    group.add_argument("--elf-feature-epochs", type=int, default=ElfConfig.feature_epochs,
                       help="epochs of the feature network on the real training split")


def elf_config(args: argparse.Namespace) -> ElfConfig | None:
    if not args.elf:
        return None
    return ElfConfig(front=args.elf_front, rear=args.elf_rear,
                     feature_epochs=args.elf_feature_epochs)


def data_config(args: argparse.Namespace) -> DataConfig:
    return DataConfig(
        path=str(resolve_data_path(args.data)), resize=args.resize,
        classes=tuple(args.classes) if args.classes else None, per_class=args.per_class,
        test_per_class=args.test_per_class, val_fraction=args.val_fraction,
        split_seed=args.split_seed)


def train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       augment=args.augment, compile=args.compile)


def _open(args: argparse.Namespace, data_cfg: DataConfig):
    """Load data first (so bad input never touches the database), then open the database."""
    data = api.load_data(data_cfg)
    db = Database(args.db)
    return db, data, api.register_dataset(db, data)


class DataCommand:
    help = "prepare a dataset (decode, cache, split) and show its summary"

    def add_arguments(self, parser):
        _add_common(parser)

    def take_action(self, args) -> int:
        db, data, dataset = _open(args, data_config(args))
        console.print(f"dataset {dataset.key} from {data.config.path}")
        console.print(data.describe())
        console.print(f"database: {db.safe_url}")
        return 0


class ProxyCommand:
    help = "build a proxy training set (nas proxy --method random --ipc 50), or list them"

    def add_arguments(self, parser):
        parser.add_argument("action", nargs="?", choices=["build", "list"], default="build")
        parser.add_argument("--method", default="random", help=f"one of {list_proxies()}")
        parser.add_argument("--ipc", type=int, default=50, help="images per class")
        parser.add_argument("--proxy-seed", type=int, default=0)
        _add_common(parser)

    def take_action(self, args) -> int:
        if args.action == "list":
            return _print_proxies(Database(args.db))
        get_proxy(args.method)
        if args.ipc < 1:
            raise ValueError(f"--ipc must be at least 1, got {args.ipc}")
        db, data, dataset = _open(args, data_config(args))
        proxy = api.build_proxy(db, data, dataset, args.method, ipc=args.ipc,
                                seed=args.proxy_seed)
        console.print(f"proxy {proxy.label} ({proxy.key}) built in {proxy.build_seconds:.1f}s "
                      f"-> {proxy.artifact_path}")
        return 0


def _print_proxies(db: Database) -> int:
    table = Table("id", "dataset", "proxy", "seed", "build s", "device", "hash", "artifact")
    for dataset in list_datasets(db):
        for p in stored_proxies(db, dataset.id):
            table.add_row(str(p.id), dataset.key, p.label, str(p.seed),
                          f"{p.build_seconds:.1f}", p.device, (p.artifact_hash or "")[:12],
                          p.artifact_path or "")
    console.print(table)
    return 0


class GroundTruthCommand:
    help = "train the same architectures on the full training split"

    def add_arguments(self, parser):
        _add_selection(parser)
        _add_training(parser, epochs=100)  # D2M: 100 epochs on the full data
        _add_common(parser)
        table = parser.add_mutually_exclusive_group()
        table.add_argument("--export", metavar="FILE", type=Path, default=None,
                           help="write this dataset's ground truth to FILE (.csv or .json)")
        table.add_argument("--import", dest="import_file", metavar="FILE", type=Path,
                           default=None, help="load ground truth exported elsewhere (rows of "
                           "this dataset only), instead of training")
        table.add_argument("--benchmark", choices=["nb201"], default=None,
                           help="record NAS-Bench-201's published accuracies (space nb201) "
                                "instead of training")
        parser.add_argument("--metric", default="cifar10_test_acc", choices=list(PUBLISHED),
                            help="with --benchmark: which published accuracy")
        parser.add_argument("--benchmark-data", default=None, help="with --benchmark: table "
                            "file or folder (default: $NAS_NB201, ../shared, packaged copy)")

    def take_action(self, args) -> int:
        args.space = args.benchmark or args.space  # a benchmark fixes its space
        space = get_space(args.space)
        db, data, dataset = _open(args, data_config(args))
        if args.export:
            n = ground_truth.export_ground_truth(db, dataset, args.export)
            console.print(f"exported {n} ground-truth runs of dataset {dataset.key} to "
                          f"{args.export}")
            return 0
        if args.import_file:
            done = ground_truth.import_ground_truth(db, dataset, args.import_file)
            console.print(f"imported {done.imported} ground-truth runs into dataset "
                          f"{dataset.key}; {done.present} already present, "
                          f"{done.other_dataset} of other datasets skipped")
            return 0
        archs = args.archs or args.sample
        if archs:
            ids = select_architectures(space, archs=args.archs, sample=args.sample,
                                     where=args.where, seed=args.seed)
        else:  # default: every architecture some proxy already ranked on this dataset
            ids = sorted({r.arch_id for r in list_runs(db, dataset_id=dataset.id)
                          if r.proxy_id is not None and r.space == args.space})
            if not ids:
                raise ValueError("no proxy runs on this dataset yet; run `nas search` first or "
                                 "pass --archs/--sample")
        if args.benchmark:
            _print_runs(record_published(db, dataset, ids, args.metric,
                                         load_nb201(args.benchmark_data)))
            attach_full_accuracy(db, dataset)
            return 0
        plan = api.EvaluationPlan(args.space, ids, train_config(args), seed=args.seed)
        _print_runs(api.evaluate_architectures(db, data, dataset, None, plan))
        attach_full_accuracy(db, dataset)  # studies on this dataset learn the ground truth
        return 0


class ReportCommand:
    help = "fidelity report: proxies and zero-cost baselines vs ground truth (HTML, MD, JSON)"

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, default=None,
                            help="directory for report.html, report.md, report.json "
                                 "(default: report/ beside the database)")
        parser.add_argument("--space", default="convnet720", help=f"one of {list_spaces()}")
        parser.add_argument("--archs", nargs="+", default=None,
                            help="restrict to these architecture ids")
        parser.add_argument("--proxy-epochs", type=int, default=None,
                            help="proxy protocol (default: each proxy's most common)")
        parser.add_argument("--truth-epochs", type=int, default=None,
                            help="ground-truth protocol (default: the most common)")
        parser.add_argument("--truth-metric", default="test_acc", choices=TRUTH_METRICS)
        parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
        _add_common(parser)

    def take_action(self, args) -> int:
        db, _, dataset = _open(args, data_config(args))
        archs = tuple(get_space(args.space).parse(a).id for a in args.archs) \
            if args.archs else None
        report = build_report(db, dataset, ReportConfig(
            space=args.space, arch_ids=archs, proxy_epochs=args.proxy_epochs,
            truth_epochs=args.truth_epochs, truth_metric=args.truth_metric,
            n_resamples=args.resamples))
        return _show_report(report, write_report(report, args.out or db.home / "report"))


def _show_report(report: dict, paths: dict[str, Path]) -> int:
    wide = console if console.is_terminal else Console(width=160)  # logs: don't wrap cells
    wide.print(rich_table(report))
    console.print(f"wrote {paths['html']}, {paths['markdown']}, {paths['json']}")
    return 0


class BenchCommand:
    help = "benchmarks: proxy fidelity presets and trainer speed"

    def __init__(self):
        self.benchmarks = {"fidelity": FidelityBenchCommand(), "speed": SpeedBenchCommand(),
                           "nb201-zero-cost": ZeroCostLiteratureCommand()}

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="benchmark", required=True)
        for name, command in self.benchmarks.items():
            command.add_arguments(sub.add_parser(name, help=command.help,
                                                 description=command.help))

    def take_action(self, args) -> int:
        return self.benchmarks[args.benchmark].take_action(args)


class FidelityBenchCommand:
    help = "proxy fidelity presets: nas bench fidelity --preset tiny|cpu|paper"

    def add_arguments(self, parser):
        parser.add_argument("--preset", default="tiny", help=f"one of {list(bench.PRESETS)}")
        parser.add_argument("--out", type=Path, default=None,
                            help="report directory (default: report-<preset>/ beside the "
                                 "database)")
        parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: $NAS_DB)")
        parser.add_argument("--threads", type=int, default=None)
        parser.add_argument("--data", default=None, help="dataset directory")
        group = parser.add_argument_group("overrides of preset fields (a smaller run)")
        for flag in ("resize", "per-class", "test-per-class", "sample", "ipc", "proxy-epochs",
                     "truth-epochs", "zero-cost-batches", "seed"):
            group.add_argument(f"--{flag}", type=int, default=None)
        group.add_argument("--where", nargs="+", default=None, metavar="FACTOR=V1,V2",
                           help="restrict the space before sampling, e.g. width=32,64")
        group.add_argument("--proxies", nargs="+", default=None, help="data proxy methods")
        group.add_argument("--zero-cost", nargs="*", default=None, help="zero-cost methods")
        group.add_argument("--option", action="append", default=[], metavar="METHOD.KEY=JSON",
                           help="proxy build option, e.g. --option d2m.iterations=200")

    def take_action(self, args) -> int:
        preset = bench.get_preset(args.preset)
        changes = {f.name: getattr(args, f.name) for f in dataclasses.fields(preset)
                   if getattr(args, f.name, None) is not None}
        options = {m: dict(o) for m, o in preset.proxy_options.items()}
        for item in args.option:
            method, key, value = _parse_option(item)
            options.setdefault(method, {})[key] = value
        for name in ("proxies", "zero_cost", "where"):
            if name in changes:
                changes[name] = tuple(changes[name])
        preset = dataclasses.replace(preset, **changes, proxy_options=options)
        report, paths = bench.run_fidelity(args.db, preset, args.out, data_path=args.data,
                                           name=args.preset, note=console.print)
        return _show_report(report, paths)


def _parse_option(item: str) -> tuple[str, str, object]:
    head, sep, raw = item.partition("=")
    method, dot, key = head.partition(".")
    if not (sep and dot and method and key):
        raise ValueError(f"--option {item!r} must look like METHOD.KEY=VALUE, "
                         "e.g. d2m.iterations=200")
    try:
        return method, key, json.loads(raw)
    except json.JSONDecodeError:
        return method, key, raw


class DemoCommand:
    help = "run the whole pipeline on real CIFAR-10 at a 2-core scale (a few minutes)"

    def add_arguments(self, parser):
        parser.add_argument("--db", default=None, help="SQLAlchemy URL")
        parser.add_argument("--data", default=None, help="dataset directory")
        parser.add_argument("--threads", type=int, default=None)

    def take_action(self, args) -> int:
        db, report, paths = run_demo(DemoConfig(), data_path=args.data, db_url=args.db)
        console.print(f"database: {db.safe_url}")
        return _show_report(report, paths)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_runs(runs) -> None:
    table = Table("architecture", "status", "val acc", "test acc", "seconds")
    for r in sorted(runs, key=lambda r: -(r.val_acc or 0)):
        table.add_row(r.arch_id, r.status, _fmt(r.val_acc), _fmt(r.test_acc),
                      f"{r.wall_seconds:.1f}")
    console.print(table)


COMMANDS = {
    "data": DataCommand(),
    "proxy": ProxyCommand(),
    "search": SearchCommand(),
    "ground-truth": GroundTruthCommand(),
    "report": ReportCommand(),
    "demo": DemoCommand(),
    "bench": BenchCommand(),
    "dashboard": DashboardCommand(),
    "pretrain": PretrainCommand(),
    "distill": DistillCommand(),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nas", description="Neural architecture search on distilled proxy data.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        command.add_arguments(sub.add_parser(name, help=command.help, description=command.help))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure(getattr(args, "threads", None))
    try:
        return COMMANDS[args.command].take_action(args)
    except USER_ERRORS as exc:
        print(f"nas {args.command}: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nas {args.command}: interrupted; finished runs are saved, re-run to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
