"""Class-balanced random subset of the real training split (the standard baseline)."""

from __future__ import annotations

from pathlib import Path

import torch

from nas.core.data import PreparedData
from proxies.base import ProxySet, register_proxy


def class_balanced_indices(labels: torch.Tensor, ipc: int, num_classes: int,
                           generator: torch.Generator) -> torch.Tensor:
    """``ipc`` distinct indices per class (fewer if a class is smaller), sorted by class."""
    picks = []
    for c in range(num_classes):
        idx = torch.nonzero(labels == c).flatten()
        picks.append(idx[torch.randperm(len(idx), generator=generator)[:ipc]])
    return torch.cat(picks)


@register_proxy("random", "class-balanced random subset of the real training split")
def build_random(data: PreparedData, *, ipc: int, seed: int, options: dict,
                 artifacts_dir: Path) -> ProxySet:
    generator = torch.Generator().manual_seed(seed)
    idx = class_balanced_indices(data.train_labels, ipc, data.num_classes, generator)
    return ProxySet(data.normalize(data.train_images[idx]), data.train_labels[idx].clone())


@register_proxy("full", "the whole training split (ground truth; no proxy)", uses_ipc=False)
def build_full(data: PreparedData, *, ipc: int, seed: int, options: dict,
               artifacts_dir: Path) -> ProxySet:
    return ProxySet(data.normalize(data.train_images), data.train_labels.clone())
