"""Class-balanced random subset of the real training split (the standard baseline), fixed or
drawn afresh while a candidate trains (the trivial baseline of D2M's on-the-fly protocol)."""

from __future__ import annotations

from pathlib import Path

import torch

from nas.core.data import PreparedData
from proxies.base import OnTheFlyOptions, ProxySet, RefreshingStream, fly_options, register_proxy


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


class RealStream(RefreshingStream):
    """A fresh class-balanced random subset of the real training split every
    ``refresh_every`` epochs. Nothing is generated, so a candidate trains every epoch: the
    same protocol as ``d2m-fly`` with the generator replaced by the real images it was
    trained on."""

    def __init__(self, data: PreparedData, ipc: int, seed: int, refresh_every: int):
        super().__init__(seed, refresh_every)
        self.data, self.ipc = data, ipc

    def fresh(self, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        drawn = build_random(self.data, ipc=self.ipc, seed=seed, options={}, artifacts_dir=None)
        return drawn.images, drawn.labels

    def epochs_within_latency(self, candidate_macs: float, epochs: int) -> int:
        return epochs


def stream_random(data: PreparedData, *, ipc: int, seed: int, options: dict,
                  artifacts_dir: Path) -> RealStream:
    return RealStream(data, ipc, seed, fly_options(options).refresh_every)


@register_proxy("random-fly", "a class-balanced random real subset drawn afresh each epoch "
                "(d2m-fly's protocol on real images)", options=OnTheFlyOptions,
                stream=stream_random)
def build_random_fly(data: PreparedData, *, ipc: int, seed: int, options: dict,
                     artifacts_dir: Path) -> ProxySet:
    """The first epoch's set (``random``'s with the same seed); later epochs come from
    ``stream_random``."""
    fly_options(options)  # refuses bad options before any work
    return build_random(data, ipc=ipc, seed=seed, options={}, artifacts_dir=artifacts_dir)


@register_proxy("full", "the whole training split (ground truth; no proxy)", uses_ipc=False)
def build_full(data: PreparedData, *, ipc: int, seed: int, options: dict,
               artifacts_dir: Path) -> ProxySet:
    return ProxySet(data.normalize(data.train_images), data.train_labels.clone())
