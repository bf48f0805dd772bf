"""``nas pretrain`` and ``nas distill``: every distillation method resolves through the
registry in ``nas.distillers``; each config field is a flag whose default is the dataclass's
(the paper's) value, so the CLI and the Python API cannot drift apart."""

from __future__ import annotations

import argparse
from pathlib import Path

from nas import api
from nas.cli.common import (
    add_config_arguments,
    add_dataset,
    config_from_args,
    console,
    open_dataset,
)
from nas.core.data import PreparedData
from nas.distillers import get_distiller, list_distillers
from nas.distillers.generators import import_generator
from nas.errors import InputError
from proxies import ProxyRequest, get_proxy, list_proxies
from proxies.d2m.generator import GeneratorConfig
from storage import ProxyRecord

PRETRAIN = "gan"  # `nas pretrain` is the GAN distiller; `nas distill` takes the others
DISTILL_METHODS = [m for m in list_distillers() if m != PRETRAIN]


def describe(record: ProxyRecord) -> str:
    size = (f"{record.params['stored_params']} params, {record.params['stored_bytes']} bytes; "
            if "stored_params" in record.params else "")
    return (f"{record.label} {record.artifact_hash} ({size}{record.build_seconds:.1f}s on "
            f"{record.device}) -> {record.artifact_path}")


class PretrainCommand:
    help = ("pre-train the class-conditional generator D2M refines (--generator cvae, the "
            "default: a conditional VAE; biggan: the BigGAN-style GAN with the same "
            "generator network), or import one")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--width", type=int, default=GeneratorConfig.width,
                            help="generator/discriminator size knob (BigGAN ch; CIFAR: 64)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--from-checkpoint", type=Path, default=None,
                            help="store a user-supplied generator file instead of training")
        add_config_arguments(parser, get_distiller(PRETRAIN).config)
        add_dataset(parser)

    def take_action(self, args: argparse.Namespace) -> int:
        distiller = get_distiller(PRETRAIN)
        config = config_from_args(distiller.config, args)
        distiller.check(seed=args.seed, ipc=None)
        if args.from_checkpoint and not args.from_checkpoint.is_file():
            raise InputError(f"--from-checkpoint {args.from_checkpoint} does not exist "
                             "(or is not a file)")

        def check(data: PreparedData) -> None:  # the generator fits the data (width, size)
            if not args.from_checkpoint:
                GeneratorConfig(num_classes=data.num_classes, im_size=data.im_size,
                                channels=data.channels, width=args.width)

        db, data, dataset = open_dataset(args, check)
        if args.from_checkpoint:
            record = import_generator(db, data, dataset, args.from_checkpoint)
        else:
            record = distiller.distil(db, data, dataset, config, seed=args.seed,
                                      width=args.width)
        console.print(describe(record))
        if "workdir" in record.params:
            console.print(f"checkpoints and sample grids: {record.params['workdir']}")
        return 0


class DistillCommand:
    help = ("distil the dataset: into a generator (d2m), latent priors + decoder (d3) or "
            "pixels for one IPC (dm, dsa, datadam)")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--method", required=True, choices=DISTILL_METHODS)
        parser.add_argument("--ipc", type=int, default=None,
                            help="images per class (dm, dsa, datadam: required; d2m, d3: also "
                                 "sample this set)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--generator", default=None,
                            help="d2m: hash (prefix) of the pre-trained generator to refine "
                                 "(default: the dataset's latest)")
        add_config_arguments(parser, *(get_distiller(m).config for m in DISTILL_METHODS))
        add_dataset(parser)

    def take_action(self, args: argparse.Namespace) -> int:
        distiller = get_distiller(args.method)
        config = config_from_args(distiller.config, args)
        distiller.check(seed=args.seed, ipc=args.ipc, generator=args.generator)
        options = {"ipc": args.ipc} if distiller.needs_ipc else {}
        if args.generator:
            options["base"] = args.generator
        request = ProxyRequest(args.method, ipc=args.ipc, seed=args.seed) \
            if distiller.kind is None else None  # dm: a proxy set of real-initialised images
        db, data, dataset = open_dataset(args, request.check_data if request else None)
        record = distiller.distil(db, data, dataset, config, seed=args.seed, **options)
        if distiller.kind is None:  # a pixel-space proxy set (dm, dsa, datadam)
            console.print(f"proxy {record.label} ({record.key}) built in "
                          f"{record.build_seconds:.1f}s -> {record.artifact_path}")
            return 0
        console.print(describe(record))
        consumers = [m for m in list_proxies() if get_proxy(m).consumes == distiller.kind]
        for method in consumers if args.ipc else []:
            proxy = api.build_proxy(db, data, dataset, method, ipc=args.ipc, seed=args.seed,
                                    artifact=record.artifact_hash)
            console.print(f"proxy {proxy.label} ({proxy.key}) -> {proxy.artifact_path}")
        for method in consumers:
            console.print(f"make sets with `nas proxy --method {method} --ipc N`")
        return 0
