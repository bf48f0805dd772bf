"""DataDAM: pixel-space dataset distillation with attention matching (Sajedi et al., ICCV 2023).

Synthetic images (initialised from random real ones) are optimised so that, under a randomly
initialised ConvNet drawn fresh every iteration, for every class (a) the mean spatial
attention map of each intermediate layer and (b) the mean final-layer embedding of the
synthetic images match the real images' (the final-layer term is the MMD with a linear
kernel). The same DSA transform is applied to a class's real and synthetic images. Like DM,
one distillation per IPC. Defaults follow the DataDAM reference code (docs/papers.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from nas.core.augment import DEFAULT_STRATEGY, DSA, DSAConfig
from nas.core.data import PreparedData
from nas.core.trainer import build_seeded
from nas.errors import InputError
from proxies.base import ProxySet
from proxies.d2m.losses import attention_map
from proxies.pixel_set import (
    PixelSet,
    block_activations,
    matching_convnet,
    register_pixel_proxy,
    siamese_for_batch,
)
from search_spaces import build_convnet
from search_spaces.convnet720 import ConvNet


@dataclass(frozen=True)
class DataDAMConfig:
    """DataDAM hyper-parameters (reference code defaults for CIFAR-10)."""

    iterations: int = 20_000  # reference: 20k outer iterations
    lr: float = 1.0  # SGD on pixels, lr_img 1 for low IPCs (10 for IPC >= 100)
    momentum: float = 0.5  # reference optimiser for the images
    batch_real: int = 64  # real images per class per iteration
    width: int = 128  # ConvNet of the dataset's depth, 128 filters, instance norm
    task_balance: float = 0.01  # weight of the final-layer (MMD) term against attention
    attention_scale: float = 100.0  # the reference multiplies both terms by 100
    attention_p: float = 1.0  # attention map sum_c |f_c|^p, p = 1
    augment: str = DEFAULT_STRATEGY  # DSA, siamese per class
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        if self.iterations < 1 or self.batch_real < 1 or self.checkpoint_every < 1:
            raise InputError("DataDAM iterations, batch_real and checkpoint_every must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    "paper": DataDAMConfig(),
    # a short run for CPU machines (fewer iterations and real images per class)
    "cpu": DataDAMConfig(iterations=500, batch_real=32),
}


def relu_maps(net: ConvNet, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """DataDAM's features of a convnet720 network: the activation output of every block but
    the last (before pooling), and the flattened output of the last block (the embedding)."""
    maps, embed = block_activations(net, x)
    return maps[:-1], embed


def datadam_loss(real: tuple[list[torch.Tensor], torch.Tensor],
                 syn: tuple[list[torch.Tensor], torch.Tensor], *, task_balance: float = 0.01,
                 scale: float = 100.0, p: float = 1.0) -> torch.Tensor:
    """One class's DataDAM loss from ``relu_maps`` of its real and synthetic images.

    scale * [sum over layers ||mean a_real - mean a_syn||^2
             + task_balance * ||mean e_real - mean e_syn||^2], a: unit-norm attention maps.
    """
    (real_maps, real_embed), (syn_maps, syn_embed) = real, syn
    loss = real_embed.new_zeros(())
    for fr, fs in zip(real_maps, syn_maps, strict=True):
        loss = loss + (attention_map(fr, p).mean(0) - attention_map(fs, p).mean(0)).pow(2).sum()
    mmd = (real_embed.mean(0) - syn_embed.mean(0)).pow(2).sum()
    return scale * (loss + task_balance * mmd)


def distill_datadam(data: PreparedData, ipc: int, config: DataDAMConfig, *, seed: int,
                    workdir: Path, device: torch.device | str = "cpu",
                    progress: bool = True) -> ProxySet:
    """Optimise ``ipc`` standardised images per class; resumes from ``workdir``."""
    spec = matching_convnet(data, config.width, "DataDAM")
    syn = PixelSet(data, ipc, config, seed=seed, device=device, method="DataDAM",
                   workdir=workdir)
    rng, device, k = syn.rng, syn.device, data.num_classes
    dsa = DSA(DSAConfig(config.augment))
    for _, bar in syn.iterate(config.iterations, checkpoint_every=config.checkpoint_every,
                              desc=f"DataDAM ipc{ipc}", progress=progress):
        net_seed = int(torch.randint(2**62, (1,), generator=rng))
        net = build_seeded(lambda: build_convnet(spec, in_channels=data.channels,
                                                 num_classes=k, im_size=data.im_size),
                           net_seed).to(device).requires_grad_(False)
        loss = syn.images.new_zeros(())
        for c in range(k):
            real = syn.real_batch(c, config.batch_real)
            params = dsa.sample(len(real), rng, siamese=True)
            with torch.no_grad():
                f_real = relu_maps(net, dsa.apply(real, params))
            syn_c = syn.of_class(c)
            f_syn = relu_maps(net, dsa.apply(syn_c, siamese_for_batch(params, len(syn_c))))
            loss = loss + datadam_loss(f_real, f_syn, task_balance=config.task_balance,
                                       scale=config.attention_scale, p=config.attention_p)
        syn.step(loss)
        bar.set_postfix(loss=f"{loss.item() / k:.4f}")
    return syn.result()


register_pixel_proxy(
    "datadam", "pixel-space attention matching (DataDAM), distilled for each IPC",
    DataDAMConfig, PRESETS, distill_datadam)
