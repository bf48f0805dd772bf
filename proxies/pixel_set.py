"""What every pixel-space distillation (DM, DSA, DataDAM, CAFE) shares: synthetic images
initialised from random real ones with their SGD optimiser, a resumable checkpoint, per-class
real batches, siamese augmentation parameters re-shaped for the synthetic batch, and the
per-block activations of a ConvNet."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from tqdm.auto import tqdm

from nas.core.augment import AugParams
from nas.core.data import PreparedData
from nas.core.runtime import default_device
from nas.errors import InputError
from proxies.base import ProxySet, options_config, register_proxy
from proxies.d2m.checkpoint import atomic_save
from proxies.d2m.model_pool import POOL_DEPTH
from proxies.random_subset import class_balanced_indices
from search_spaces.convnet720 import ConvNet, ConvNetSpec


def siamese_for_batch(params: AugParams | None, n: int) -> AugParams | None:
    """Siamese parameters (identical rows) re-shaped for a batch of ``n`` images."""
    if params is None:
        return None
    return AugParams(params.family, tuple(v[:1].expand(n, *v.shape[1:]) for v in params.values))


def block_activations(net: ConvNet, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The activation output of every block of a convnet720 network (before its pooling),
    first block first, and the flattened output of the last block (the embedding)."""
    maps = []
    for layer in net.features:
        x = layer(x)
        if isinstance(layer, (nn.ReLU, nn.LeakyReLU, nn.Sigmoid)):
            maps.append(x)
    return maps, x.flatten(1)


def matching_convnet(data: PreparedData, width: int, method: str) -> ConvNetSpec:
    """The distillers' ConvNet: the dataset's depth, ``width`` filters, instance norm."""
    if data.im_size not in POOL_DEPTH:
        raise InputError(f"{method} has no ConvNet depth for {data.im_size}x{data.im_size}")
    return ConvNetSpec(depth=POOL_DEPTH[data.im_size], width=width)


def work_dir(artifacts_dir: Path, method: str, data: PreparedData, ipc: int, seed: int,
             config: dict) -> Path:
    """The resumable work directory of one distillation job (keyed by everything it uses)."""
    job = hashlib.blake2b(json.dumps({"data": data.key, "ipc": ipc, "seed": seed,
                                      method: config}, sort_keys=True).encode(),
                          digest_size=12).hexdigest()
    return artifacts_dir / "work" / f"{method}-{job}"


class ImageOptimizer(Protocol):
    """The fields of a distiller's config that set the SGD on the pixels."""

    lr: float
    momentum: float


class PixelSet:
    """``ipc`` standardised images per class, initialised from distinct random real images,
    optimised by SGD (``config.lr``, ``config.momentum``) on the pixels; checkpointed in
    ``workdir``. ``rng`` (seeded with ``seed``) draws the initial images and then serves
    the distiller's every random draw, so a resumed job continues the same sequence.

    Raises:
        InputError: IPC below 1, or a class with fewer than ``ipc`` training images.
    """

    def __init__(self, data: PreparedData, ipc: int, config: ImageOptimizer, *, seed: int,
                 device: torch.device | str, method: str, workdir: Path):
        if ipc < 1:
            raise InputError(f"ipc must be at least 1, got {ipc}")
        k = data.num_classes
        rng = torch.Generator().manual_seed(seed)
        device = torch.device(device)
        init = class_balanced_indices(data.train_labels, ipc, k, rng)
        if len(init) != ipc * k:
            raise InputError(f"every class needs at least {ipc} training images for "
                             f"{method} init")
        self.data, self.ipc, self.rng, self.device = data, ipc, rng, device
        self.images = data.normalize(data.train_images[init]).to(device).requires_grad_(True)
        self.labels = data.train_labels[init].clone()
        self.optimizer = torch.optim.SGD([self.images], lr=config.lr, momentum=config.momentum)
        self.by_class = [torch.nonzero(data.train_labels == c).flatten() for c in range(k)]
        self.checkpoint = workdir / "checkpoint.pt"

    def resume(self) -> int:
        """Restore images, optimiser and RNG from the checkpoint; the iteration to start at."""
        if not self.checkpoint.is_file():
            return 0
        blob = torch.load(self.checkpoint, map_location=self.device, weights_only=True)
        with torch.no_grad():
            self.images.copy_(blob["images"])
        self.optimizer.load_state_dict(blob["optimizer"])
        self.rng.set_state(blob["rng"])
        return blob["iteration"]

    def save(self, iteration: int) -> None:
        atomic_save({"images": self.images.detach(), "optimizer": self.optimizer.state_dict(),
                     "rng": self.rng.get_state(), "iteration": iteration}, self.checkpoint)

    def iterate(self, total: int, *, checkpoint_every: int, desc: str,
                progress: bool = True) -> Iterator[tuple[int, tqdm]]:
        """Iterations from the checkpoint's (resumed) to ``total``, each with the progress
        bar; saves a checkpoint every ``checkpoint_every`` iterations and after the last."""
        start = self.resume()
        bar = tqdm(range(start, total), initial=start, total=total, desc=desc, unit="it",
                   disable=not progress)
        for it in bar:
            yield it, bar
            if (it + 1) % checkpoint_every == 0 or it + 1 == total:
                self.save(it + 1)

    def of_class(self, c: int) -> torch.Tensor:
        return self.images[c * self.ipc:(c + 1) * self.ipc]

    def real_batch(self, c: int, n: int) -> torch.Tensor:
        """``n`` random real training images of class ``c`` (with replacement), standardised."""
        pool = self.by_class[c]
        pick = pool[torch.randint(len(pool), (n,), generator=self.rng)]
        return self.data.normalize(self.data.train_images[pick]).to(self.device)

    def step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def result(self) -> ProxySet:
        return ProxySet(self.images.detach().cpu().float().contiguous(), self.labels)


def register_pixel_proxy(name: str, description: str, config: type, presets: dict,
                       distill: Callable[..., ProxySet]) -> None:
    """File ``distill(data, ipc, config, *, seed, workdir, device)`` as proxy ``name``: its
    options are ``preset`` (a key of ``presets``, default "paper") and fields of ``config``;
    one resumable distillation per (data, IPC, seed, config)."""
    def build(data: PreparedData, *, ipc: int, seed: int, options: dict,
              artifacts_dir: Path) -> ProxySet:
        chosen = options_config(options, presets)
        return distill(data, ipc, chosen, seed=seed, device=default_device(),
                       workdir=work_dir(artifacts_dir, name, data, ipc, seed, chosen.to_dict()))
    register_proxy(name, description, options=config)(build)
