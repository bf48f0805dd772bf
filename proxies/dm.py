"""DM: pixel-space distribution matching (Zhao & Bilen, WACV 2023), the standard baseline.

Synthetic images (initialised from random real ones) are optimised so that, for every class,
their mean embedding under a randomly initialised ConvNet matches the real images' mean
embedding; one fresh network per iteration, the same DSA transform for the real and synthetic
images of a class. Re-distilled for every IPC (unlike D2M). Resumable from a checkpoint in
the artifacts directory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from nas.core.augment import DEFAULT_STRATEGY, DSA, DSAConfig
from nas.core.data import PreparedData
from nas.errors import InputError
from proxies.base import ProxySet
from proxies.d2m.model_pool import ModelPool
from proxies.pixel_set import PixelSet, register_pixel_proxy, siamese_for_batch


@dataclass(frozen=True)
class DMConfig:
    """DM hyper-parameters (DM paper Sec. 4 and its reference code)."""

    iterations: int = 20_000  # DM: 20k outer iterations
    lr: float = 1.0  # DM: SGD on pixels, lr_img 1.0 for ConvNet
    momentum: float = 0.5  # DM reference code
    batch_real: int = 256  # DM: 256 real images per class per iteration
    width: int = 128  # ConvNet of the dataset's depth, 128 filters
    augment: str = DEFAULT_STRATEGY  # DSA on (DM uses it during distillation)
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_real", "width", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise InputError(f"DM {name} must be at least 1, got {getattr(self, name)}")
        if self.lr < 0 or self.momentum < 0:
            raise InputError(f"DM lr and momentum must be >= 0, got {self.lr} and "
                             f"{self.momentum}")
        DSAConfig(self.augment).families  # noqa: B018  (raises for an unknown DSA family)

    def to_dict(self) -> dict:
        return asdict(self)


def dm_loss(real_embed: torch.Tensor, syn_embed: torch.Tensor) -> torch.Tensor:
    """Squared distance between the mean embeddings of one class's real and synthetic images."""
    return (real_embed.mean(0) - syn_embed.mean(0)).pow(2).sum()


def distill_dm(data: PreparedData, ipc: int, config: DMConfig, *, seed: int, workdir: Path,
               device: torch.device | str = "cpu", progress: bool = True) -> ProxySet:
    """Optimise ``ipc`` standardised images per class; resumes from ``workdir``."""
    syn = PixelSet(data, ipc, config, seed=seed, device=device, method="DM",
                   workdir=workdir)
    rng, device, k = syn.rng, syn.device, data.num_classes
    pool = ModelPool.for_data(data.channels, k, data.im_size, members=("convnet",),
                              width=config.width)
    dsa = DSA(DSAConfig(config.augment))
    for _, bar in syn.iterate(config.iterations, checkpoint_every=config.checkpoint_every,
                              desc=f"DM ipc{ipc}", progress=progress):
        net = pool.draw(rng).to(device).requires_grad_(False)
        loss = syn.images.new_zeros(())
        for c in range(k):
            real = syn.real_batch(c, config.batch_real)
            params = dsa.sample(len(real), rng, siamese=True)
            with torch.no_grad():
                real_embed = net(dsa.apply(real, params)).embedding
            syn_c = syn.of_class(c)
            syn_embed = net(dsa.apply(syn_c, siamese_for_batch(params, len(syn_c)))).embedding
            loss = loss + dm_loss(real_embed, syn_embed)
        syn.step(loss)
        bar.set_postfix(loss=f"{loss.item() / k:.4f}")
    return syn.result()


register_pixel_proxy(
    "dm", "pixel-space distribution matching (DM), distilled for each IPC",
    DMConfig, {"paper": DMConfig()}, distill_dm)
