"""``nas data`` and ``nas proxy``: prepare a dataset; build or list proxy sets."""

from __future__ import annotations

import argparse

from rich.table import Table

from nas import api
from nas.cli.common import add_artifact, add_dataset, console, existing_database, open_dataset
from proxies import ProxyRequest, list_proxies
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


class ProxyCommand:
    help = "build a proxy training set (nas proxy --method random --ipc 50), or list them"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", nargs="?", choices=["build", "list"], default="build")
        parser.add_argument("--method", default="random", help=f"one of {list_proxies()}")
        parser.add_argument("--ipc", type=int, default=50, help="images per class")
        parser.add_argument("--proxy-seed", type=int, default=0)
        add_artifact(parser)
        add_dataset(parser)

    def take_action(self, args: argparse.Namespace) -> int:
        if args.action == "list":
            return print_stored_proxies(existing_database(args.db))
        request = ProxyRequest(args.method, ipc=args.ipc, seed=args.proxy_seed,
                               artifact=args.artifact)
        db, data, dataset = open_dataset(args, request.check_data)
        proxy = api.build_proxy(db, data, dataset, request.method, ipc=request.ipc,
                                seed=request.seed, artifact=request.artifact)
        console.print(f"proxy {proxy.label} ({proxy.key}) built in {proxy.build_seconds:.1f}s "
                      f"-> {proxy.artifact_path}")
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
