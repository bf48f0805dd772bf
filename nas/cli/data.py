"""``nas data`` and ``nas proxy``: prepare a dataset; build, list, import or export proxy
sets."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from nas import api
from nas.cli.common import (
    add_artifact,
    add_dataset,
    console,
    data_config,
    existing_database,
    open_dataset,
)
from nas.errors import InputError
from nas.proxy_files import export_set, import_set
from proxies import ProxyRequest, get_proxy, list_proxies
from proxies.imported import SOFT_LABELS, VALUES, ImportConfig
from proxies.set_files import FORMATS
from storage import Database, list_datasets, list_proxy_records


class DataCommand:
    help = "prepare a dataset (decode, cache, split) and show its summary"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_dataset(parser)

    def take_action(self, args: argparse.Namespace) -> int:
        db, data, dataset = open_dataset(args)
        console.print(f"dataset {dataset.key} from {data.config.path}")
        console.print(data.describe())
        console.print(f"database: {db.safe_url}")
        return 0


# positional arguments after each action
TARGETS = {"build": (), "list": (), "import": ("FILE",), "export": ("NAME", "FILE")}


class ProxyCommand:
    help = ("build a proxy training set (nas proxy --method random --ipc 50), list them, "
            "import one from a file (nas proxy import FILE --name NAME) or export one "
            "(nas proxy export NAME FILE)")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", nargs="?", choices=list(TARGETS), default="build")
        parser.add_argument("targets", nargs="*", metavar="FILE|NAME",
                            help="import: FILE; export: NAME FILE")
        parser.add_argument("--method", default="random", help=f"one of {list_proxies()}")
        parser.add_argument("--ipc", type=int, default=50, help="images per class")
        parser.add_argument("--proxy-seed", type=int, default=0)
        add_artifact(parser)
        files = parser.add_argument_group("import and export (docs/proxies.md)")
        files.add_argument("--name", default=None,
                           help="import: the name the set is stored under (--proxy NAME)")
        files.add_argument("--values", choices=list(VALUES), default=None,
                           help="what the file's pixel values are (import default: what the "
                                "file says; export default: standardized)")
        files.add_argument("--rescale", action="store_true",
                           help="import: resize images of another resolution (else refused)")
        files.add_argument("--soft-labels", choices=SOFT_LABELS, default="refuse",
                           help="import: refuse soft labels, or train on each image's "
                                "largest class")
        files.add_argument("--entry", type=int, default=0,
                           help="import: which set of a dataset-condensation result file")
        files.add_argument("--format", choices=FORMATS, default=None,
                           help="export: the layout (default: from FILE's name)")
        add_dataset(parser)

    def take_action(self, args: argparse.Namespace) -> int:
        wanted = TARGETS[args.action]
        if len(args.targets) != len(wanted):
            takes = " ".join(wanted) or "no FILE or NAME"
            raise InputError(f"`nas proxy {args.action}` takes {takes}, got {args.targets}")
        if args.action == "list":
            return print_stored_proxies(existing_database(args.db))
        if args.action == "import":
            return import_file(args, Path(args.targets[0]))
        if args.action == "export":
            written = export_set(existing_database(args.db), args.targets[0],
                                 Path(args.targets[1]), fmt=args.format,
                                 values=args.values or "standardized")
            console.print(f"exported {args.targets[0]} to {written[0]}"
                          + (f" and {len(written) - 1} more files" if len(written) > 1 else ""))
            return 0
        get_proxy(args.method)  # building takes a method; imported sets are not built
        request = ProxyRequest(args.method, ipc=args.ipc, seed=args.proxy_seed,
                               artifact=args.artifact)
        db, data, dataset = open_dataset(args, request.check_data)
        proxy = api.build_proxy(db, data, dataset, request.method, ipc=request.ipc,
                                seed=request.seed, artifact=request.artifact)
        console.print(f"proxy {proxy.label} ({proxy.key}) built in {proxy.build_seconds:.1f}s "
                      f"-> {proxy.artifact_path}")
        return 0


def import_file(args: argparse.Namespace, path: Path) -> int:
    """``nas proxy import FILE --name NAME``: every check runs before the database opens."""
    if args.name is None:
        raise InputError("nas proxy import FILE needs --name NAME, the name to search with "
                         "(--proxy NAME)")
    cfg = ImportConfig(args.name, values=args.values, rescale=args.rescale,
                       soft_labels=args.soft_labels, entry=args.entry)
    data = api.load_data(data_config(args))
    imported = import_set(args.db, data, path, cfg)
    for notice in imported.notices:
        console.print(f"note: {notice}")
    proxy = imported.proxy
    console.print(f"{'imported' if imported.fresh else 'already imported'} {path} as "
                  f"{proxy.label} ({proxy.params['imported']['format']}, dataset "
                  f"{data.key}); search it with `nas search --proxy {cfg.name}`")
    return 0


def print_stored_proxies(db: Database) -> int:
    table = Table("id", "dataset", "proxy", "seed", "build s", "device", "hash", "artifact")
    for dataset in list_datasets(db):
        for p in list_proxy_records(db, dataset.id):
            table.add_row(str(p.id), dataset.key, p.label, str(p.seed),
                          f"{p.build_seconds:.1f}", p.device, (p.artifact_hash or "")[:12],
                          p.artifact_path or "")
    console.print(table)
    return 0
