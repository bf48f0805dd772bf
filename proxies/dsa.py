"""DSA: dataset condensation by gradient matching with differentiable siamese augmentation
(Zhao & Bilen, ICML 2021).

Synthetic images (initialised from random real ones) are optimised so that, for every class,
the gradient of the classification loss with respect to a network's weights on the synthetic
images matches the gradient on real images (layer-wise distance: sum over output units of
1 - cosine similarity). The network is a fresh random ConvNet per outer iteration, trained on
the current synthetic set between matching steps (inner loop). Real and synthetic images of a
class get the same DSA transform. One distillation per IPC. Defaults follow the paper and its
reference code (docs/papers.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from nas.core.augment import DEFAULT_STRATEGY, DSA, DSAConfig
from nas.core.data import PreparedData
from nas.core.trainer import build_seeded
from nas.errors import InputError
from proxies.base import ProxySet
from proxies.pixel_set import PixelSet, matching_convnet, register_pixel_proxy, siamese_for_batch
from search_spaces import build_convnet

# reference: (outer loop, inner loop) per IPC; other IPCs use the largest entry below them
LOOPS = {1: (1, 1), 10: (10, 50), 20: (20, 25), 30: (30, 20), 40: (40, 15), 50: (50, 10)}


@dataclass(frozen=True)
class DSAMatchConfig:
    """DSA gradient-matching hyper-parameters (paper Sec. 4 and its reference code)."""

    iterations: int = 1000  # outer iterations (a fresh network each)
    lr: float = 0.1  # lr_img: SGD on pixels
    momentum: float = 0.5  # reference optimiser for the images
    lr_net: float = 0.01  # SGD lr of the network trained on the synthetic set
    batch_real: int = 256  # real images per class per matching step
    batch_train: int = 256  # synthetic batch for the network's training steps
    width: int = 128  # ConvNet of the dataset's depth, 128 filters, instance norm
    outer_loop: int | None = None  # matching steps per network; None = LOOPS[ipc]
    inner_loop: int | None = None  # network epochs on the synthetic set between them
    augment: str = DEFAULT_STRATEGY  # DSA, siamese per class
    checkpoint_every: int = 10

    def __post_init__(self) -> None:
        if self.iterations < 1 or self.batch_real < 1 or self.checkpoint_every < 1:
            raise InputError("DSA iterations, batch_real and checkpoint_every must be >= 1")

    def loops(self, ipc: int) -> tuple[int, int]:
        outer, inner = LOOPS[max(k for k in LOOPS if k <= max(ipc, 1))]
        return self.outer_loop or outer, self.inner_loop or inner

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    "paper": DSAMatchConfig(),
    # a short run for CPU machines (fewer iterations, real images and loop steps)
    "cpu": DSAMatchConfig(iterations=20, batch_real=64, outer_loop=5, inner_loop=10),
}


def gradient_distance(real: Sequence[torch.Tensor], syn: Sequence[torch.Tensor]
                      ) -> torch.Tensor:
    """Sum over layers and output units of 1 - cos(g_real, g_syn) (the reference's 'ours').

    Each weight gradient is viewed as (output units, rest); 1-D parameters (biases, norm
    scales and shifts) are left out, as in the reference.
    """
    total = syn[0].new_zeros(())
    for gr, gs in zip(real, syn, strict=True):
        if gr.dim() == 1:
            continue
        gr, gs = gr.reshape(len(gr), -1), gs.reshape(len(gs), -1)
        cos = (gr * gs).sum(-1) / (gr.norm(dim=-1) * gs.norm(dim=-1) + 1e-6)
        total = total + (1 - cos).sum()
    return total


def distill_dsa(data: PreparedData, ipc: int, config: DSAMatchConfig, *, seed: int,
                workdir: Path, device: torch.device | str = "cpu",
                progress: bool = True) -> ProxySet:
    """Optimise ``ipc`` standardised images per class; resumes from ``workdir``."""
    spec = matching_convnet(data, config.width, "DSA")
    syn = PixelSet(data, ipc, config, seed=seed, device=device, method="DSA",
                   workdir=workdir)
    rng, device, k = syn.rng, syn.device, data.num_classes
    labels = syn.labels.to(device)
    dsa = DSA(DSAConfig(config.augment))
    outer, inner = config.loops(ipc)
    for _, bar in syn.iterate(config.iterations, checkpoint_every=config.checkpoint_every,
                              desc=f"DSA ipc{ipc}", progress=progress):
        net_seed = int(torch.randint(2**62, (1,), generator=rng))
        net = build_seeded(lambda: build_convnet(spec, in_channels=data.channels,
                                                 num_classes=k, im_size=data.im_size),
                           net_seed).to(device).train()
        weights = list(net.parameters())
        net_optimizer = torch.optim.SGD(weights, lr=config.lr_net)
        for step in range(outer):
            loss = syn.images.new_zeros(())
            for c in range(k):
                real = syn.real_batch(c, config.batch_real)
                params = dsa.sample(len(real), rng, siamese=True)
                y_real = torch.full((len(real),), c, device=device)
                g_real = torch.autograd.grad(
                    F.cross_entropy(net(dsa.apply(real, params)), y_real), weights)
                syn_c = syn.of_class(c)
                y_syn = torch.full((ipc,), c, device=device)
                g_syn = torch.autograd.grad(
                    F.cross_entropy(net(dsa.apply(syn_c, siamese_for_batch(params, ipc))), y_syn),
                    weights, create_graph=True)
                loss = loss + gradient_distance([g.detach() for g in g_real], g_syn)
            syn.step(loss)
            if step == outer - 1:
                break
            images = syn.images.detach()
            for _ in range(inner):  # the network learns from the current synthetic set
                order = torch.randperm(len(images), generator=rng).to(device)
                for begin in range(0, len(images), config.batch_train):
                    idx = order[begin:begin + config.batch_train]
                    net_loss = F.cross_entropy(net(dsa(images[idx], rng)), labels[idx])
                    net_optimizer.zero_grad(set_to_none=True)
                    net_loss.backward()
                    net_optimizer.step()
        bar.set_postfix(loss=f"{loss.item() / k:.4f}")
    return syn.result()


register_pixel_proxy(
    "dsa", "pixel-space gradient matching with siamese augmentation (DSA)",
    DSAMatchConfig, PRESETS, distill_dsa)
