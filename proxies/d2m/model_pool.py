"""Model pool for distribution/embedding matching: random networks exposing per-layer features.

D2M Sec. 4.1: "The model pool includes Depth-n ConvNets and ResNet-18/32 with different
initialization random seeds ... we randomly select one model from the pool at each iteration."
Each draw picks an architecture uniformly and builds it with fresh weights seeded from the
caller's ``torch.Generator`` (global RNG untouched). Shared by D2M, DM and D3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from nas.core.trainer import build_seeded
from nas.errors import InputError
from search_spaces import ConvNetSpec, build_convnet
from search_spaces.convnet720 import ConvNet

POOL_DEPTH = {16: 3, 32: 3, 64: 4}  # paper: depth 3 at 32x32, 4 at 64x64 (5 at 128 is outside
# convnet720); 16x16 CPU presets keep ConvNet-3, the evaluation network


@dataclass(frozen=True)
class Features:
    """What a pool network sees in a batch: intermediate maps, final embedding, logits."""

    maps: list[torch.Tensor]  # (N, C_l, H_l, W_l) per intermediate block
    embedding: torch.Tensor  # (N, D) flattened output of the last block
    logits: torch.Tensor  # (N, K)


class ConvNetFeatures(nn.Module):
    """A convnet720 network whose blocks' outputs are collected (all but the last as maps)."""

    def __init__(self, net: ConvNet, depth: int):
        super().__init__()
        self.net = net
        layers = list(net.features)
        per_block = len(layers) // depth
        self.blocks = nn.ModuleList(nn.Sequential(*layers[i * per_block:(i + 1) * per_block])
                                    for i in range(depth))

    def forward(self, x: torch.Tensor) -> Features:
        maps = []
        for block in self.blocks:
            x = block(x)
            maps.append(x)
        embedding = maps.pop().flatten(1)
        return Features(maps, embedding, self.net.classifier(embedding))


def _instance_norm(channels: int) -> nn.Module:
    return nn.GroupNorm(channels, channels, affine=True)


class BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.norm1 = _instance_norm(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.norm2 = _instance_norm(out_ch)
        self.shortcut = nn.Identity() if stride == 1 and in_ch == out_ch else nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), _instance_norm(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm1(self.conv1(x)))
        return torch.relu(self.norm2(self.conv2(h)) + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18 (3x3 stem, 4 stages of 2 basic blocks) with instance norm, as in
    the dataset-condensation benchmark; ``width`` is the first stage's channels (64)."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 64):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                                  _instance_norm(width), nn.ReLU())
        stages, ch = [], width
        for i, mult in enumerate((1, 2, 4, 8)):
            out = width * mult
            stages.append(nn.Sequential(BasicBlock(ch, out, 1 if i == 0 else 2),
                                        BasicBlock(out, out, 1)))
            ch = out
        self.stages = nn.ModuleList(stages)
        self.classifier = nn.Linear(ch, num_classes)

    def forward(self, x: torch.Tensor) -> Features:
        x = self.stem(x)
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        embedding = maps.pop().mean(dim=(2, 3))
        return Features(maps, embedding, self.classifier(embedding))


@dataclass(frozen=True)
class ModelPool:
    """Architectures to draw from for inputs of one shape.

    Example:
        >>> pool = ModelPool.for_data(3, 10, 16)
        >>> net = pool.draw(torch.Generator().manual_seed(0))
        >>> net(torch.zeros(2, 3, 16, 16)).logits.shape
        torch.Size([2, 10])
    """

    in_channels: int
    num_classes: int
    im_size: int
    members: tuple[str, ...] = ("convnet",)
    width: int = 128  # paper: ConvNet blocks of 128 filters
    resnet_width: int = 64  # ResNet-18's first stage

    def __post_init__(self) -> None:
        unknown = set(self.members) - set(_BUILDERS)
        if not self.members or unknown:
            raise InputError(f"unknown model-pool members {sorted(unknown)}; "
                             f"choose from {sorted(_BUILDERS)}")
        if self.im_size not in POOL_DEPTH:
            raise InputError(f"no model-pool ConvNet depth for {self.im_size}x{self.im_size}; "
                             f"supported sizes: {sorted(POOL_DEPTH)}")

    @classmethod
    def for_data(cls, in_channels: int, num_classes: int, im_size: int, *,
                 members: tuple[str, ...] | None = None, width: int = 128) -> ModelPool:
        """The paper's pool: ConvNets of the dataset's depth, plus ResNet-18 at 32x32."""
        if members is None:
            members = ("convnet", "resnet18") if im_size == 32 else ("convnet",)
        return cls(in_channels, num_classes, im_size, tuple(members), width)

    @property
    def depth(self) -> int:
        return POOL_DEPTH[self.im_size]

    def draw(self, rng: torch.Generator) -> nn.Module:
        """A random member with fresh weights; both choices come from ``rng`` only."""
        name = self.members[int(torch.randint(len(self.members), (1,), generator=rng))]
        seed = int(torch.randint(2**62, (1,), generator=rng))
        return build_seeded(lambda: _BUILDERS[name](self), seed)


def _convnet(pool: ModelPool) -> nn.Module:
    spec = ConvNetSpec(depth=pool.depth, width=pool.width)  # relu, instance norm, avg pool
    net = build_convnet(spec, in_channels=pool.in_channels, num_classes=pool.num_classes,
                        im_size=pool.im_size)
    return ConvNetFeatures(net, pool.depth)


def _resnet18(pool: ModelPool) -> nn.Module:
    return ResNet18(pool.in_channels, pool.num_classes, pool.resnet_width)


_BUILDERS: dict[str, Callable[[ModelPool], nn.Module]] = {
    "convnet": _convnet,
    "resnet18": _resnet18,
}
