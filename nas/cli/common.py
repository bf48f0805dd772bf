"""What every ``nas`` command shares: the console, number formatting, flag groups declared
once with one default each, and the one place flags become typed configs."""

from __future__ import annotations

import argparse
import os
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields

from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from nas import api
from nas.core.data import DataConfig, PreparedData, resolve_data_path
from nas.core.elf import ElfConfig
from nas.core.parallel import GPU_WORKERS, placement
from nas.core.runtime import default_device
from nas.core.trainer import COMPILE_MIN_FLOPS, TrainConfig
from nas.errors import InputError
from search_spaces import list_spaces
from storage import (
    BACKENDS,
    DB_ENV,
    Database,
    DatasetRecord,
    default_url,
    is_sqlite,
    sqlite_file,
)

console = Console()


def fmt(value: float | None) -> str:
    """A score to three decimals, or "-" when there is none."""
    return "-" if value is None else f"{value:.3f}"


# ---- flag groups -------------------------------------------------------------------------

def database_url(text: str) -> str:
    """``--db``: a SQLAlchemy URL of a supported backend (checked before any work)."""
    try:
        backend = make_url(text).get_backend_name()
    except ArgumentError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a database URL; use sqlite:///path/nas.db or "
            "postgresql://user@host/db") from None
    if backend not in BACKENDS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: backend {backend!r} is not supported; use one of {list(BACKENDS)}")
    return text


def resolve_db(args: argparse.Namespace) -> None:
    """Fill ``args.db`` from ``$NAS_DB`` when the command has ``--db`` and it was not given,
    checked like the flag.

    Raises:
        InputError: ``$NAS_DB`` is not a URL of a supported backend.
    """
    if getattr(args, "db", "") is None and os.environ.get(DB_ENV):
        try:
            args.db = database_url(os.environ[DB_ENV])
        except argparse.ArgumentTypeError as exc:
            raise InputError(f"${DB_ENV}={exc}") from None


def port_number(text: str) -> int:
    """``--port``: a TCP port, 1-65535."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be an integer from 1 to 65535, got {text!r}")
    return port


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=None, type=database_url,
                        help="SQLAlchemy URL (default: $NAS_DB or sqlite:///nas-runs/nas.db)")


def add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")


WORKERS_HELP = ("architectures trained at once, in worker processes (default: on a CPU one "
                f"one-thread process per core, on CUDA {GPU_WORKERS} processes sharing the GPU)")


def add_workers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=None,
                        help=WORKERS_HELP)


def workers_of(args: argparse.Namespace) -> int:
    """--workers, default by device (``nas.core.parallel.placement``); InputError below 1."""
    return placement(default_device(), args.workers).workers


def add_data_path(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None,
                        help="dataset directory (default: $NAS_DATA, ../shared/data/cifar10, "
                             "else download CIFAR-10)")


def add_dataset(parser: argparse.ArgumentParser) -> None:
    """--db, --threads and the dataset flags (source, resize, classes, sizes, split)."""
    add_db(parser)
    add_threads(parser)
    group = parser.add_argument_group("dataset")
    add_data_path(group)
    group.add_argument("--resize", type=int, default=None, help="resize images to SxS")
    group.add_argument("--classes", nargs="+", default=None, help="class names or indices")
    group.add_argument("--per-class", type=int, default=None,
                       help="train images kept per class (before the val split)")
    group.add_argument("--test-per-class", type=int, default=None,
                       help="test images kept per class")
    group.add_argument("--val-fraction", type=float, default=DataConfig.val_fraction)
    group.add_argument("--split-seed", type=int, default=DataConfig.split_seed)


def add_space(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", default="convnet720", help=f"one of {list_spaces()}")


def add_selection(parser: argparse.ArgumentParser) -> None:
    add_space(parser)
    parser.add_argument("--archs", nargs="+", default=None, help="architecture ids")
    parser.add_argument("--sample", type=int, default=None,
                        help="stratified sample of N architectures (default: the whole space)")
    add_where(parser)
    parser.add_argument("--seed", type=int, default=0, help="sample and training seed")


def add_where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--where", nargs="+", default=None, metavar="FACTOR=V1,V2",
                        help="restrict the space, e.g. --where width=32,64 pooling=avg,max")


def add_training(parser: argparse.ArgumentParser, epochs: int) -> None:
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--augment", default=TrainConfig.augment,
                        help="DSA strategy, or 'none'")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile the training step (default: only for runs of at "
                             f"least {COMPILE_MIN_FLOPS:.0e} training FLOPs)")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=TrainConfig.amp,
                        help="bf16 autocast where the device computes bf16 natively (CUDA, "
                             "CPUs with AVX512-BF16 or AMX); --no-amp trains in float32")


def add_elf(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ELF (features of a real-data ConvNet-3 as extra targets)")
    group.add_argument("--elf", action="store_true", help="train candidates with ELF")
    group.add_argument("--elf-front", type=float, default=ElfConfig.front, help="lambda_front")
    group.add_argument("--elf-rear", type=float, default=ElfConfig.rear, help="lambda_rear")
    group.add_argument("--elf-feature-epochs", type=int, default=ElfConfig.feature_epochs,
                       help="epochs of the feature network on the real training split")


def add_artifact(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--artifact", default="", metavar="HASH",
                        help="d2m/d3: hash (prefix) of the stored artifact to sample from "
                             "(default: the dataset's newest; see `nas proxy list`)")


def _flag_type(hint: object) -> tuple[type, bool]:
    """(element type, is a sequence) of a field annotation such as ``int | None``."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return _flag_type(args[0])
    if typing.get_origin(hint) is tuple:
        return args[0], True
    return hint, False  # type: ignore[return-value]


def add_config_arguments(parser: argparse.ArgumentParser, *configs: type,
                         skip: tuple[str, ...] = ()) -> None:
    """One ``--field-name`` flag per field of the dataclasses ``configs`` (shared names once).
    Flags default to None, meaning "the dataclass default", which the help shows."""
    seen: dict[str, list[str]] = {}
    kinds: dict[str, object] = {}
    for cls in configs:
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if f.name in skip or f.default is MISSING:
                continue
            seen.setdefault(f.name, []).append(f"{cls.__name__} {f.default!r}")
            kinds[f.name] = hints[f.name]
    group = parser.add_argument_group("hyper-parameters (default: the paper's, shown per config)")
    for name, defaults in seen.items():
        flag, (kind, many) = "--" + name.replace("_", "-"), _flag_type(kinds[name])
        help_text = "default: " + "; ".join(defaults)
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                               help=help_text)
        else:
            group.add_argument(flag, type=kind, nargs="+" if many else None, default=None,
                               help=help_text)


# ---- flags -> configs ----------------------------------------------------------------------

def config_from_args(cls: type, args: argparse.Namespace, **extra):
    """Build ``cls`` from the flags the user gave (None = keep the dataclass default)."""
    given = {f.name: getattr(args, f.name) for f in fields(cls)
             if getattr(args, f.name, None) is not None}
    for name, value in given.items():
        if isinstance(value, list):
            given[name] = tuple(value)
    return cls(**{**given, **extra})


def data_config(args: argparse.Namespace) -> DataConfig:
    return DataConfig(
        path=str(resolve_data_path(args.data)), resize=args.resize,
        classes=tuple(args.classes) if args.classes else None, per_class=args.per_class,
        test_per_class=args.test_per_class, val_fraction=args.val_fraction,
        split_seed=args.split_seed)


def train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       augment=args.augment, compile=args.compile, amp=args.amp)


def elf_config(args: argparse.Namespace) -> ElfConfig | None:
    if not args.elf:
        return None
    return ElfConfig(front=args.elf_front, rear=args.elf_rear,
                     feature_epochs=args.elf_feature_epochs)


def existing_database(url: str | None) -> Database:
    """Open ``url`` (None: the default) for a command that only reads: a SQLite file that
    does not exist is refused instead of created."""
    url = url or default_url()
    if is_sqlite(url):
        path = sqlite_file(url)
        if path is not None and not path.exists():
            raise InputError(f"no database at {path}; pass the --db of an existing one, or "
                             "create one with `nas demo` or `nas search`")
    return Database(url)


def existing_dataset(args: argparse.Namespace) -> tuple[Database, DatasetRecord]:
    """The stored dataset the dataset flags name, read without writing anything."""
    db = existing_database(args.db)
    return db, api.registered_dataset(db, api.load_data(data_config(args)))


def open_dataset(args: argparse.Namespace, check: Callable[[PreparedData], None] | None = None
                 ) -> tuple[Database, PreparedData, DatasetRecord]:
    """Load data first, run ``check`` (the validation that needs the data, e.g. an IPC the
    classes can fill), and only then open the database: bad input never touches it."""
    data = api.load_data(data_config(args))
    if check is not None:
        check(data)
    db = Database(args.db)
    return db, data, api.register_dataset(db, data)
