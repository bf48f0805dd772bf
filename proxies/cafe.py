"""CAFE: dataset condensation by aligning features (Wang et al., CVPR 2022).

Synthetic images (initialised from random real ones) are optimised so that, under a fresh
random ConvNet per iteration, (a) the class means of the features of several layers match
between real and synthetic images (layer-wise feature alignment, squared L2) and (b) the
class means of the synthetic embeddings, used as a classifier (logits = real embedding x
centre), classify the real images (discrimination loss, cross-entropy summed over the real
batch). Between image steps the network learns from the synthetic set, and two accuracy
watchers on real images decide when to stop (dynamic bi-level optimisation). One
distillation per IPC. Defaults follow the CAFE reference code (docs/papers.md).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from nas.core.augment import DSA, DSAConfig
from nas.core.data import PreparedData
from nas.core.trainer import build_seeded
from nas.errors import InputError
from proxies.base import ProxySet
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
class CAFEConfig:
    """CAFE hyper-parameters (reference code defaults for CIFAR-10)."""

    iterations: int = 2000  # outer iterations (a fresh network each)
    lr: float = 0.1  # lr_img: SGD on pixels, halved at 60%, 80% and 90% of the iterations
    momentum: float = 0.5  # reference optimiser for the images
    lr_net: float = 0.01  # SGD lr of the network trained on the synthetic set
    batch_real: int = 256  # real images per class per image step
    batch_train: int = 256  # synthetic batch for the network's training steps
    width: int = 128  # ConvNet of the dataset's depth, 128 filters, instance norm
    # feature-alignment weights, deepest feature first: the last block's output, then the
    # activation output of each block from the last to the first (missing ones are dropped)
    layer_weights: tuple[float, ...] = (1.0, 1.0, 0.1, 0.1)
    inner_weight: float = 0.01  # weight of the discrimination loss
    watch_window: int = 10  # accuracy readings a watcher compares
    lambda_outer: float = 0.04  # new network once real accuracy varies less than this
    lambda_inner: float = 0.03  # stop training the network once it varies more than this
    max_outer: int = 100  # image steps per network (the reference has no cap)
    max_inner: int = 100  # network epochs between two image steps (the reference: none)
    watch_real: int = 128  # real images per class behind each accuracy reading
    augment: str = "none"  # the reference's default (method DC); a DSA strategy = CAFE+DSA
    checkpoint_every: int = 10

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_real", "batch_train", "watch_window", "max_outer",
                     "max_inner", "watch_real", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise InputError(f"CAFE {name} must be >= 1, got {getattr(self, name)}")
        DSAConfig(self.augment).families  # noqa: B018 - validates the strategy

    def lr_at(self, iteration: int) -> float:
        """The reference's step schedule (halved at 1200, 1600, 1800 of 2000 iterations)."""
        return self.lr * 0.5 ** sum(iteration >= f * self.iterations for f in (0.6, 0.8, 0.9))

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    "paper": CAFEConfig(),
    # a short run for CPU machines (fewer iterations, real images and watcher readings)
    "cpu": CAFEConfig(iterations=20, batch_real=64, watch_window=5, max_outer=10,
                      max_inner=10, watch_real=32),
}


def cafe_features(net: ConvNet, x: torch.Tensor) -> list[torch.Tensor]:
    """CAFE's features, deepest first: the flattened output of the last block, then the
    activation output (before pooling) of each block from the last to the first."""
    maps, embed = block_activations(net, x)
    return [embed, *reversed(maps)]


def class_means(features: torch.Tensor, k: int) -> torch.Tensor:
    """Per-class means of a class-ordered batch (``k`` classes, equal counts)."""
    return features.reshape(k, -1, *features.shape[1:]).mean(1)


def cafe_loss(real: list[torch.Tensor], syn: list[torch.Tensor], k: int, *,
              layer_weights: tuple[float, ...] = (1.0, 1.0, 0.1, 0.1),
              inner_weight: float = 0.01) -> torch.Tensor:
    """CAFE's image loss from ``cafe_features`` of class-ordered real and synthetic batches.

    sum_l w_l ||mean_c f_l(real) - mean_c f_l(syn)||^2            (feature alignment)
    + ||mean_c e(syn) - mean_c e(real)||^2                       (embedding alignment)
    + inner_weight * sum_i CE(e(real_i) . centres^T, y_i)        (discrimination)
    with centres = the class means of the synthetic embeddings e. As in the reference, the
    embedding is aligned twice (first layer weight and embedding term).
    """
    loss = syn[0].new_zeros(())
    for w, fr, fs in zip(layer_weights, real, syn, strict=False):
        loss = loss + w * (class_means(fr, k) - class_means(fs, k)).pow(2).sum()
    centres = class_means(syn[0], k)
    loss = loss + (centres - class_means(real[0], k)).pow(2).sum()
    labels = torch.arange(k, device=real[0].device).repeat_interleave(len(real[0]) // k)
    return loss + inner_weight * F.cross_entropy(real[0] @ centres.T, labels, reduction="sum")


def _real_accuracy(net: ConvNet, syn: PixelSet, n: int) -> float:
    """Accuracy of ``net`` on ``n`` random real training images per class."""
    k = syn.data.num_classes
    with torch.no_grad():
        real = torch.cat([syn.real_batch(c, n) for c in range(k)])
        labels = torch.arange(k, device=real.device).repeat_interleave(n)
        return (net(real).argmax(1) == labels).float().mean().item()


def _spread(window: deque) -> float:
    """Range of a full watcher window; NaN (past no threshold) until the window is full."""
    return max(window) - min(window) if len(window) == window.maxlen else math.nan


def distill_cafe(data: PreparedData, ipc: int, config: CAFEConfig, *, seed: int,
                 workdir: Path, device: torch.device | str = "cpu",
                 progress: bool = True) -> ProxySet:
    """Optimise ``ipc`` standardised images per class; resumes from ``workdir``."""
    spec = matching_convnet(data, config.width, "CAFE")
    syn = PixelSet(data, ipc, config, seed=seed, device=device, method="CAFE",
                   workdir=workdir)
    rng, device, k = syn.rng, syn.device, data.num_classes
    labels = syn.labels.to(device)
    dsa = DSA(DSAConfig(config.augment))
    for it, bar in syn.iterate(config.iterations, checkpoint_every=config.checkpoint_every,
                               desc=f"CAFE ipc{ipc}", progress=progress):
        for group in syn.optimizer.param_groups:
            group["lr"] = config.lr_at(it)
        net_seed = int(torch.randint(2**62, (1,), generator=rng))
        net = build_seeded(lambda: build_convnet(spec, in_channels=data.channels,
                                                 num_classes=k, im_size=data.im_size),
                           net_seed).to(device).train()
        net_optimizer = torch.optim.SGD(net.parameters(), lr=config.lr_net)
        outer_acc = deque(maxlen=config.watch_window)
        for _ in range(config.max_outer):
            real, syn_x = [], []
            for c in range(k):  # a class's real and synthetic images share one transform
                batch = syn.real_batch(c, config.batch_real)
                params = dsa.sample(len(batch), rng, siamese=True)
                real.append(dsa.apply(batch, params))
                syn_x.append(dsa.apply(syn.of_class(c), siamese_for_batch(params, ipc)))
            with torch.no_grad():
                f_real = cafe_features(net, torch.cat(real))
            f_syn = cafe_features(net, torch.cat(syn_x))
            loss = cafe_loss(f_real, f_syn, k, layer_weights=config.layer_weights,
                             inner_weight=config.inner_weight)
            syn.step(loss)
            outer_acc.append(_real_accuracy(net, syn, config.watch_real))
            if _spread(outer_acc) < config.lambda_outer:
                break
            images, inner_acc = syn.images.detach(), deque(maxlen=config.watch_window)
            for _ in range(config.max_inner):  # the network learns from the synthetic set
                order = torch.randperm(len(images), generator=rng).to(device)
                for begin in range(0, len(images), config.batch_train):
                    idx = order[begin:begin + config.batch_train]
                    net_loss = F.cross_entropy(net(dsa(images[idx], rng)), labels[idx])
                    net_optimizer.zero_grad(set_to_none=True)
                    net_loss.backward()
                    net_optimizer.step()
                inner_acc.append(_real_accuracy(net, syn, config.watch_real))
                if _spread(inner_acc) > config.lambda_inner:
                    break
        bar.set_postfix(loss=f"{loss.item():.4f}")
    return syn.result()


register_pixel_proxy(
    "cafe", "pixel-space feature alignment with a discrimination loss (CAFE)",
    CAFEConfig, PRESETS, distill_cafe)
