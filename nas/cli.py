"""``nas`` command line: each subcommand turns flags into configs, calls nas.api, prints."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from nas import api
from nas.commands_bench import BenchCommand
from nas.data import DataConfig, DataError, resolve_data_path
from nas.runtime import configure
from nas.selection import select_architectures
from nas.trainer import TrainConfig
from proxies import UnknownProxyError, get_proxy, list_proxies
from search_spaces import InvalidArchitectureError, UnknownSpaceError, get_space, list_spaces
from storage import Database, StorageError, list_datasets, list_runs
from storage import list_proxies as stored_proxies

console = Console()
USER_ERRORS = (DataError, InvalidArchitectureError, UnknownSpaceError, UnknownProxyError,
               StorageError, ValueError)


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
    parser.add_argument("--seed", type=int, default=0, help="sample and training seed")


def _add_training(parser: argparse.ArgumentParser, epochs: int) -> None:
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--augment", default=TrainConfig.augment,
                        help="DSA strategy, or 'none'")


def data_config(args: argparse.Namespace) -> DataConfig:
    return DataConfig(
        path=str(resolve_data_path(args.data)), resize=args.resize,
        classes=tuple(args.classes) if args.classes else None, per_class=args.per_class,
        test_per_class=args.test_per_class, val_fraction=args.val_fraction,
        split_seed=args.split_seed)


def train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       augment=args.augment)


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
    table = Table("id", "dataset", "proxy", "seed", "build s", "device", "artifact")
    for dataset in list_datasets(db):
        for p in stored_proxies(db, dataset.id):
            table.add_row(str(p.id), dataset.key, p.label, str(p.seed),
                          f"{p.build_seconds:.1f}", p.device, p.artifact_path or "")
    console.print(table)
    return 0


class SearchCommand:
    help = "train architectures of a space on a proxy and record their accuracies"

    def add_arguments(self, parser):
        parser.add_argument("--proxy", default="random", help=f"one of {list_proxies()}")
        parser.add_argument("--ipc", type=int, default=50)
        parser.add_argument("--proxy-seed", type=int, default=0)
        _add_selection(parser)
        _add_training(parser, epochs=TrainConfig.epochs)
        _add_common(parser)

    def take_action(self, args) -> int:
        method = get_proxy(args.proxy)
        space = get_space(args.space)
        archs = select_architectures(space, archs=args.archs, sample=args.sample, seed=args.seed)
        db, data, dataset = _open(args, data_config(args))
        proxy = None if not method.uses_ipc else api.build_proxy(
            db, data, dataset, args.proxy, ipc=args.ipc, seed=args.proxy_seed)
        plan = api.EvaluationPlan(args.space, archs, train_config(args), seed=args.seed)
        runs = api.evaluate_architectures(db, data, dataset, proxy, plan)
        _print_runs(runs)
        console.print(f"{len(runs)} runs in {db.safe_url}")
        return 0


class GroundTruthCommand:
    help = "train the same architectures on the full training split"

    def add_arguments(self, parser):
        _add_selection(parser)
        _add_training(parser, epochs=100)  # D2M: 100 epochs on the full data
        _add_common(parser)

    def take_action(self, args) -> int:
        space = get_space(args.space)
        db, data, dataset = _open(args, data_config(args))
        archs = args.archs or args.sample
        if archs:
            ids = select_architectures(space, archs=args.archs, sample=args.sample, seed=args.seed)
        else:  # default: every architecture some proxy already ranked on this dataset
            ids = sorted({r.arch_id for r in list_runs(db, dataset_id=dataset.id)
                          if r.proxy_id is not None and r.space == args.space})
            if not ids:
                raise ValueError("no proxy runs on this dataset yet; run `nas search` first or "
                                 "pass --archs/--sample")
        plan = api.EvaluationPlan(args.space, ids, train_config(args), seed=args.seed)
        _print_runs(api.evaluate_architectures(db, data, dataset, None, plan))
        return 0


class ReportCommand:
    help = "rank correlation between proxy and full-data accuracies"

    def add_arguments(self, parser):
        _add_common(parser)

    def take_action(self, args) -> int:
        db, _, dataset = _open(args, data_config(args))
        rows = api.fidelity_table(db, dataset)
        if not rows:
            raise ValueError("no architecture has both proxy and full-data runs on this dataset; "
                             "run `nas search` and `nas ground-truth` first")
        table = Table("proxy", "architectures", "Spearman", "Kendall", "diverged",
                      title=f"proxy fidelity on dataset {dataset.key}")
        for r in rows:
            table.add_row(r.proxy, str(r.n), f"{r.spearman:.3f}", f"{r.kendall:.3f}",
                          str(r.diverged))
        console.print(table)
        return 0


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
    "bench": BenchCommand(),
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
