"""``nas ground-truth`` and ``nas report``: full-data training and the fidelity report."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from nas import api, ground_truth
from nas.analysis.curves import CURVE_SCORES
from nas.analysis.render import check_out_dir, rich_table, write_report
from nas.analysis.report import TRUTH_METRICS, ReportConfig, build_report
from nas.analysis.report_data import Report
from nas.cli.common import (
    add_dataset,
    add_selection,
    add_space,
    add_training,
    add_workers,
    console,
    existing_dataset,
    fmt,
    open_dataset,
    train_config,
    workers_of,
)
from nas.core.data import PreparedData
from nas.core.selection import select_architectures
from nas.engines import attach_full_accuracy
from nas.errors import InputError
from nas.published import METRICS as PUBLISHED
from nas.published import load_nb201, record_published
from search_spaces import get_space
from storage import (
    Database,
    RunRecord,
    default_url,
    is_sqlite,
    list_datasets,
    list_runs,
    sqlite_file,
)


class GroundTruthCommand:
    help = "train the same architectures on the full training split"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_selection(parser)
        add_training(parser, epochs=100)  # D2M: 100 epochs on the full data
        add_dataset(parser)
        add_workers(parser)
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

    def take_action(self, args: argparse.Namespace) -> int:
        space_name = args.benchmark or args.space  # a benchmark fixes its space
        space = get_space(space_name)
        train = train_config(args)
        workers = workers_of(args)
        ids = None
        if args.archs or args.sample is not None:
            ids = select_architectures(space, archs=args.archs, sample=args.sample,
                                       where=args.where, seed=args.seed)
        if args.export:
            check_export_path(args.export)
        if args.benchmark_data and not args.benchmark:
            raise InputError("--benchmark-data is read only with --benchmark nb201")
        published = load_nb201(args.benchmark_data) if args.benchmark else None
        table: ground_truth.GroundTruthFile | None = None

        def check(data: PreparedData) -> None:  # everything that needs the data, before the db
            nonlocal table
            if args.import_file:
                table = ground_truth.read_ground_truth(args.import_file, data.key)
            elif ids is not None and not args.export:
                if not args.benchmark:
                    api.EvaluationPlan(space_name, ids, train, seed=args.seed).check_data(data)
            elif not args.export and not has_dataset(args.db, data.key):
                raise InputError(NO_PROXY_RUNS)

        db, data, dataset = open_dataset(args, check)
        if args.export:
            n = ground_truth.export_ground_truth(db, dataset, args.export)
            console.print(f"exported {n} ground-truth runs of dataset {dataset.key} to "
                          f"{args.export}")
            return 0
        if table is not None:
            done = ground_truth.import_ground_truth(db, dataset, table)
            console.print(f"imported {done.imported} ground-truth runs into dataset "
                          f"{dataset.key}; {done.present} already present, "
                          f"{done.other_dataset} of other datasets skipped")
            return 0
        if ids is None:  # default: every architecture some proxy already ranked on this dataset
            ids = sorted({r.arch_id for r in list_runs(db, dataset_id=dataset.id)
                          if r.proxy_id is not None and r.space == space_name})
            if not ids:
                raise InputError(NO_PROXY_RUNS)
        if published is not None:
            print_runs(record_published(db, dataset, ids, args.metric, published))
            attach_full_accuracy(db, dataset)
            return 0
        plan = api.EvaluationPlan(space_name, ids, train, seed=args.seed)
        print_runs(api.evaluate_architectures(db, data, dataset, None, plan, workers=workers))
        attach_full_accuracy(db, dataset)  # studies on this dataset learn the ground truth
        return 0


NO_PROXY_RUNS = ("no proxy runs on this dataset yet; run `nas search` first or pass "
                 "--archs/--sample")


def has_dataset(url: str | None, key: str) -> bool:
    """Whether the database holds dataset ``key``, read without creating anything."""
    url = url or default_url()
    if is_sqlite(url):
        path = sqlite_file(url)
        if path is None or not path.exists():
            return False
    return any(d.key == key for d in list_datasets(Database(url)))


def check_export_path(path: Path) -> None:
    """Refuse an export path that is a directory (before any work)."""
    if path.is_dir():
        raise InputError(f"--export {path} is a directory; name a .csv or .json file")
    ground_truth.check_format(path)


class ReportCommand:
    help = "fidelity report: proxies and zero-cost baselines vs ground truth (HTML, MD, JSON)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--out", type=Path, default=None,
                            help="directory for report.html, report.md, report.json "
                                 "(default: report/ beside the database)")
        add_space(parser)
        parser.add_argument("--archs", nargs="+", default=None,
                            help="restrict to these architecture ids")
        parser.add_argument("--proxy-epochs", type=int, default=None,
                            help="proxy protocol (default: each proxy's most common)")
        parser.add_argument("--truth-epochs", type=int, default=None,
                            help="ground-truth protocol (default: the most common)")
        parser.add_argument("--truth-metric", default="test_acc", choices=TRUTH_METRICS)
        parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
        parser.add_argument("--score", nargs="+", default=[], choices=CURVE_SCORES,
                            dest="scores", help="learning-curve scores shown beside each "
                            "proxy's final validation accuracy, from the same runs")
        parser.add_argument("--prefilter", default=None, help="row whose top K the within-top "
                            "metrics use (default: the zero-cost ensemble)")
        parser.add_argument("--prefilter-k", type=int, default=None)
        add_dataset(parser)

    def take_action(self, args: argparse.Namespace) -> int:
        archs = tuple(get_space(args.space).parse(a).id for a in args.archs) \
            if args.archs else None
        config = ReportConfig(space=args.space, arch_ids=archs, proxy_epochs=args.proxy_epochs,
                              truth_epochs=args.truth_epochs, truth_metric=args.truth_metric,
                              n_resamples=args.resamples, curve_scores=tuple(args.scores),
                              prefilter=args.prefilter, prefilter_k=args.prefilter_k)
        if args.out is not None:
            check_out_dir(args.out)
        db, dataset = existing_dataset(args)
        report = build_report(db, dataset, config)
        return show_report(report, write_report(report, args.out or db.home / "report"))


def show_report(report: Report, paths: dict[str, Path]) -> int:
    wide = console if console.is_terminal else Console(width=200)  # logs: don't wrap cells
    wide.print(rich_table(report))
    console.print(f"wrote {paths['html']}, {paths['markdown']}, {paths['json']}")
    return 0


def print_runs(runs: list[RunRecord]) -> None:
    table = Table("architecture", "status", "val acc", "test acc", "seconds", "compiled")
    for r in sorted(runs, key=lambda r: -(r.val_acc or 0)):
        table.add_row(r.arch_id, r.status, fmt(r.val_acc), fmt(r.test_acc),
                      f"{r.wall_seconds:.1f}", "yes" if r.config.get("compiled") else "no")
    console.print(table)
