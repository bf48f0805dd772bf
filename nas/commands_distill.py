"""``nas pretrain`` and ``nas distill``: generator pre-training and distillation commands.

Every field of the config dataclasses is a flag whose default is the dataclass's (the paper's)
value, so the CLI and the Python API cannot drift apart.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields
from pathlib import Path

from rich.console import Console

from nas import api, artifacts
from proxies.d2m.distill import D2MConfig
from proxies.d2m.generator import GeneratorConfig
from proxies.d2m.pretrain import PretrainConfig
from proxies.d3.api import build_d3_sets, distill_d3
from proxies.d3.distill import D3Config
from proxies.dm import DMConfig

console = Console()


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


def config_from_args(cls: type, args: argparse.Namespace, **extra):
    """Build ``cls`` from the flags the user gave (None = keep the dataclass default)."""
    given = {f.name: getattr(args, f.name) for f in fields(cls)
             if getattr(args, f.name, None) is not None}
    for name, value in given.items():
        if isinstance(value, list):
            given[name] = tuple(value)
    return cls(**{**given, **extra})


class PretrainCommand:
    help = "pre-train a class-conditional GAN (BigGAN-style) for D2M, or import one"

    def add_arguments(self, parser):
        parser.add_argument("--width", type=int, default=GeneratorConfig.width,
                            help="generator/discriminator size knob (BigGAN ch; CIFAR: 64)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--from-checkpoint", type=Path, default=None,
                            help="store a user-supplied generator file instead of training")
        add_config_arguments(parser, PretrainConfig)
        from nas.cli import _add_common
        _add_common(parser)

    def take_action(self, args) -> int:
        from nas.cli import _open, data_config
        config = config_from_args(PretrainConfig, args)
        db, data, dataset = _open(args, data_config(args))
        if args.from_checkpoint:
            record = artifacts.import_generator(db, data, dataset, args.from_checkpoint)
        else:
            record = artifacts.pretrain_generator(db, data, dataset, width=args.width,
                                                  config=config, seed=args.seed)
        console.print(f"{record.method} {record.artifact_hash} ({record.build_seconds:.1f}s on "
                      f"{record.device}) -> {record.artifact_path}")
        if "workdir" in record.params:
            console.print(f"checkpoints and sample grids: {record.params['workdir']}")
        return 0


def _distill_d2m(args, config: D2MConfig, db, data, dataset) -> str:
    record = artifacts.distill_generator(db, data, dataset, config=config, seed=args.seed,
                                         base=args.generator)
    return (f"d2m-generator {record.artifact_hash} ({record.build_seconds:.1f}s on "
            f"{record.device}) -> {record.artifact_path}; make sets with "
            "`nas proxy --method d2m --ipc N`")


def _distill_dm(args, config: DMConfig, db, data, dataset) -> str:
    proxy = api.build_proxy(db, data, dataset, "dm", ipc=args.ipc, seed=args.seed,
                            options=config.to_dict())
    return (f"proxy {proxy.label} ({proxy.key}) built in {proxy.build_seconds:.1f}s -> "
            f"{proxy.artifact_path}")


def _distill_d3(args, config: D3Config, db, data, dataset) -> str:
    record = distill_d3(db, data, dataset, config, seed=args.seed)
    lines = [f"d3-priors {record.artifact_hash} ({record.params['stored_params']} params, "
             f"{record.params['stored_bytes']} bytes; {record.build_seconds:.1f}s on "
             f"{record.device}) -> {record.artifact_path}"]
    for proxy in build_d3_sets(db, data, dataset, record, [args.ipc] if args.ipc else []):
        lines.append(f"proxy {proxy.label} ({proxy.key}) -> {proxy.artifact_path}")
    return "\n".join([*lines, "make sets with `nas proxy --method d3 --ipc N`"])


# method -> (config dataclass, runner); configs are built before any data or database is touched
DISTILLERS: dict[str, tuple[type, Callable[..., str]]] = {
    "d2m": (D2MConfig, _distill_d2m),
    "dm": (DMConfig, _distill_dm),
    "d3": (D3Config, _distill_d3),
}


class DistillCommand:
    help = ("distil the dataset: into a generator (d2m), latent priors + decoder (d3) or "
            "pixels for one IPC (dm)")

    def add_arguments(self, parser):
        parser.add_argument("--method", required=True, choices=sorted(DISTILLERS))
        parser.add_argument("--ipc", type=int, default=None,
                            help="images per class (dm: required; d3: also sample this set)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--generator", default=None,
                            help="d2m: hash (prefix) of the pre-trained generator to refine "
                                 "(default: the dataset's latest)")
        add_config_arguments(parser, D2MConfig, DMConfig, D3Config)
        from nas.cli import _add_common
        _add_common(parser)

    def take_action(self, args) -> int:
        from nas.cli import _open, data_config
        config_cls, run = DISTILLERS[args.method]
        config = config_from_args(config_cls, args)
        if args.ipc is not None and args.ipc < 1:
            raise ValueError(f"--ipc must be at least 1, got {args.ipc}")
        if args.method == "dm" and args.ipc is None:
            raise ValueError("--method dm distils one set per IPC: pass --ipc N (N >= 1)")
        db, data, dataset = _open(args, data_config(args))
        console.print(run(args, config, db, data, dataset))
        return 0
