"""Run a ``nas`` command where the dataset's source files are absent, from its decoded tensors.

A GPU machine that cannot hold CIFAR-10's image files can still add runs to this machine's
dataset: ``--save`` writes the decoded (and, with ``--resize``, already resized) tensors with
the source's content hash, and the run mode serves them to the command in place of the files.
Because the hash is the source's and resizing is per image, the prepared splits, their
statistics and the dataset key are those of the real source, so exported runs import here.

    python benchmarks/with_tensors.py --save raw16.pt --data ../shared/data/cifar10 --resize 16
    python benchmarks/with_tensors.py raw16.pt ground-truth --resize 16 --archs ... --export t.csv
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import torch

import nas.api
from nas.cli import main
from nas.core.data import RawDataset, load_raw, resolve_data_path
from nas.core.data.prepare import _resize


def save(path: str, data: str | None, resize: int | None) -> None:
    raw = load_raw(resolve_data_path(data))
    raw = dataclasses.replace(raw, train_images=_resize(raw.train_images, resize),
                              test_images=_resize(raw.test_images, resize))
    torch.save(dataclasses.asdict(raw), path)
    print(f"saved {raw.format} {tuple(raw.train_images.shape)} train, "
          f"{tuple(raw.test_images.shape)} test, content {raw.content_hash} to {path}")


def run(path: str, argv: list[str]) -> int:
    raw = RawDataset(**torch.load(path, weights_only=True))
    nas.api.load_raw = lambda root, **kwargs: raw  # every dataset flag still applies
    return main(argv)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--save"]:
        parser = argparse.ArgumentParser()
        parser.add_argument("--save", required=True)
        parser.add_argument("--data", default=None)
        parser.add_argument("--resize", type=int, default=None)
        args = parser.parse_args()
        save(args.save, args.data, args.resize)
    else:
        sys.exit(run(sys.argv[1], sys.argv[2:]))
