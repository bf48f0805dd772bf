"""ELF, EvaLuation with distillation Features (arXiv 2312.05598).

When a candidate trains on a distilled set, a feature network trained on real data (the
distillation network, ConvNet-3) supervises the two sections of the candidate, split after
its first block (docs/papers.md):

- front: the candidate's first block regresses the feature network's first-block features
  through an adapter (1x1 conv + adaptive average pooling), MSE;
- rear: the candidate's remaining blocks and classifier learn to predict the labels from the
  feature network's first-block features (adapted to the candidate's channels and size by a
  1x1 conv + adaptive average pooling), cross-entropy. This is the seed's "the evaluation
  model learns to predict labels based on ... the distillation model's features".

    loss = CE(net(x), y) + front * MSE(A_f(h_first), F_1(x))
           + rear * CE(rear_net(A_r(F_1(x))), y)

``rear_target="features"`` keeps the earlier variant, MSE(A_r(h_last), F_deep(x)).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nas.core.data import PreparedData
from nas.core.trainer import TrainConfig, build_seeded, train
from nas.errors import InputError
from search_spaces import build_convnet
from search_spaces.convnet720 import ConvNet


@dataclass(frozen=True)
class ElfConfig:
    """ELF weights and the feature network; the paper tunes the weights per setting."""

    front: float = 1.0  # lambda_front: weight of the first-block feature loss
    rear: float = 1.0  # lambda_rear: weight of the rear section's loss
    rear_target: str = "labels"  # "labels": the candidate's rear predicts y from the feature
    # net's features (ELF); "features": MSE of its last block to the deep features (variant)
    feature_arch: str = "d3-w128-relu-instance-avg"  # the distillation network (ConvNet-3)
    feature_epochs: int = 30  # its training on the real training split (literature protocol)
    feature_seed: int = 0

    def __post_init__(self) -> None:
        if self.front < 0 or self.rear < 0:
            raise InputError(f"--elf-front and --elf-rear must be >= 0, got {self.front} and "
                             f"{self.rear}")
        if self.feature_epochs < 1:
            raise InputError(f"--elf-feature-epochs must be at least 1, got "
                             f"{self.feature_epochs}")
        if self.feature_seed < 0:
            raise InputError(f"ELF feature_seed must be >= 0, got {self.feature_seed}")
        if self.rear_target not in REAR_TARGETS:
            raise InputError(f"unknown ELF rear target {self.rear_target!r}; choose from "
                             f"{list(REAR_TARGETS)}")

    def to_dict(self) -> dict:
        return asdict(self)


REAR_TARGETS = ("labels", "features")


def feature_network(data: PreparedData, config: ElfConfig, artifacts_dir: Path, *,
                    device: torch.device | str = "cpu") -> ConvNet:
    """The feature network trained on ``data``'s real training split, cached on disk under
    ``artifacts_dir/elf/`` by (dataset key, architecture, seed, training config), so runs with
    other ELF weights share it; returned frozen and in eval mode."""
    shape = dict(in_channels=data.channels, num_classes=data.num_classes,
                 im_size=data.im_size)
    make = partial(build_convnet, config.feature_arch, **shape)
    train_cfg = TrainConfig(epochs=config.feature_epochs)
    blob = json.dumps({"dataset": data.key, "arch": config.feature_arch,  # not the weights
                       "seed": config.feature_seed, "train": train_cfg.protocol()},
                      sort_keys=True).encode()
    path = artifacts_dir / "elf" / f"{hashlib.blake2b(blob, digest_size=12).hexdigest()}.pt"
    net = build_seeded(make, config.feature_seed)
    if path.is_file():
        net.load_state_dict(torch.load(path, weights_only=True))
    else:
        trained: list[nn.Module] = []
        train(lambda: trained.append(make()) or trained[-1],
              (data.normalize(data.train_images), data.train_labels), train_cfg,
              seed=config.feature_seed, device=device)
        net = trained[0].cpu()
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
    return net.to(device).eval().requires_grad_(False)


def _adapter(in_channels: int, target: torch.Size) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_channels, target[0], kernel_size=1),
                         nn.AdaptiveAvgPool2d(tuple(target[1:])))


class ElfLoss:
    """``loss_fn(net, x, y)`` for ``nas.core.trainer.train`` adding ELF's two feature terms.

    A candidate network exposes ``blocks()`` (first block, remaining blocks) and ``head``
    (logits from the last block's maps); ``block_widths`` are their channels (the spec's
    ``block_widths()``). The ``adapters`` must be trained with the candidate: pass them as
    ``extra_modules``.
    """

    def __init__(self, feature_net: ConvNet, block_widths: tuple[int, int],
                 config: ElfConfig, *, im_size: int, seed: int):
        self.feature_net, self.config = feature_net, config
        device = next(feature_net.parameters()).device
        probe = torch.zeros(1, feature_net.features[0].in_channels, im_size, im_size,
                            device=device)
        shallow, deep = self.targets(probe)
        front, last = block_widths
        rear = (nn.Conv2d(shallow.shape[1], front, kernel_size=1)
                if config.rear_target == "labels" else _adapter(last, deep.shape[1:]))
        self.adapters = build_seeded(lambda: nn.ModuleDict({
            "front": _adapter(front, shallow.shape[1:]), "rear": rear}), seed).to(device)

    @torch.no_grad()
    def targets(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shallow (first-block) and deep (last-block) features of the feature network."""
        first, rest = self.feature_net.blocks()
        shallow = first(x)
        return shallow, rest(shallow)

    def terms(self, net: ConvNet, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unweighted loss terms ``ce``, ``front`` and ``rear`` of one batch."""
        first, rest = net.blocks()
        h_first = first(x)
        h_last = rest(h_first)
        logits = net.head(h_last)
        shallow, deep = self.targets(x)
        if self.config.rear_target == "labels":  # the rear section reads the feature net's
            fed = F.adaptive_avg_pool2d(self.adapters["rear"](shallow), h_first.shape[-2:])
            rear = F.cross_entropy(net.head(rest(fed)), y)
        else:
            rear = F.mse_loss(self.adapters["rear"](h_last), deep)
        return {"ce": F.cross_entropy(logits, y),
                "front": F.mse_loss(self.adapters["front"](h_first), shallow), "rear": rear}

    def __call__(self, net: ConvNet, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        t = self.terms(net, x, y)
        return t["ce"] + self.config.front * t["front"] + self.config.rear * t["rear"]
