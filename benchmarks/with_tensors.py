"""Run a ``nas`` command where the dataset's source files are absent, from its decoded tensors.

A GPU machine that cannot hold CIFAR-10's image files can still add runs to this machine's
dataset: ``--save`` writes the decoded (and, with ``--resize``, already resized) tensors with
the source's content hash, and the run mode serves them to the command in place of the files.
Because the hash is the source's and resizing is per image, the prepared splits, their
statistics and the dataset key are those of the real source, so exported runs import here.

    python benchmarks/with_tensors.py --save raw16.pt --data ../shared/data/cifar10 --resize 16
    python benchmarks/with_tensors.py raw16.pt ground-truth --resize 16 --archs ... --export t.csv

``--per-class N --test-per-class M`` keep only the first N training and M test images of each
class (a file small enough to travel at 32x32); the hash then names that subset, so its runs
form a dataset of their own and never mix with the whole source's.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import torch

import nas.api
from nas.cli import main
from nas.core.data import RawDataset, load_raw, resolve_data_path
from nas.core.data.prepare import _resize


def _first_per_class(labels: torch.Tensor, per_class: int | None) -> torch.Tensor:
    """Indices of the first ``per_class`` images of every class, in dataset order (all when
    None)."""
    if per_class is None:
        return torch.arange(len(labels))
    rank = torch.zeros_like(labels)  # position of each image among its class's images
    for c in labels.unique():
        where = labels == c
        rank[where] = torch.arange(int(where.sum()))
    return torch.nonzero(rank < per_class).flatten()


def save(path: str, data: str | None, resize: int | None, per_class: int | None = None,
         test_per_class: int | None = None) -> None:
    raw = load_raw(resolve_data_path(data))
    train = _first_per_class(raw.train_labels, per_class)
    test = _first_per_class(raw.test_labels, test_per_class)
    subset = f"-first{per_class}x{test_per_class}" if per_class or test_per_class else ""
    raw = dataclasses.replace(raw, train_images=_resize(raw.train_images[train], resize),
                              train_labels=raw.train_labels[train],
                              test_images=_resize(raw.test_images[test], resize),
                              test_labels=raw.test_labels[test],
                              content_hash=raw.content_hash + subset)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(dataclasses.asdict(raw), path)
    print(f"saved {raw.format} {tuple(raw.train_images.shape)} train, "
          f"{tuple(raw.test_images.shape)} test, content {raw.content_hash} to {path}")


SERVED = "NAS_SERVED_TENSORS"  # the tensors file a run serves, for its worker processes


def serve(path: str) -> None:
    """Serve the tensors in ``path`` in place of the dataset's files, in this process and in
    the worker processes it spawns (they run this module again and find ``SERVED`` set)."""
    raw = RawDataset(**torch.load(path, weights_only=True))
    nas.api.load_raw = lambda root, **kwargs: raw  # every dataset flag still applies
    os.environ[SERVED] = path


def run(path: str, argv: list[str]) -> int:
    serve(path)
    return main(argv)


if __name__ == "__mp_main__" and os.environ.get(SERVED):  # a spawned worker of ``run``
    serve(os.environ[SERVED])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--save"]:
        parser = argparse.ArgumentParser()
        parser.add_argument("--save", required=True)
        parser.add_argument("--data", default=None)
        parser.add_argument("--resize", type=int, default=None)
        parser.add_argument("--per-class", type=int, default=None)
        parser.add_argument("--test-per-class", type=int, default=None)
        args = parser.parse_args()
        save(args.save, args.data, args.resize, args.per_class, args.test_per_class)
    else:
        sys.exit(run(sys.argv[1], sys.argv[2:]))
