"""The ConvNet grid of the dataset-condensation literature (720 networks).

depth {1,2,3,4} x width {32,64,128,256} x activation {sigmoid, relu, leakyrelu}
x norm {none, batch, layer, instance, group} x pooling {none, max, avg}.
Block = Conv2d(3x3, pad 1) -> norm -> activation -> pool(2, 2); head = one Linear.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass

from torch import nn

from nas.errors import InputError

DEPTHS = (1, 2, 3, 4)
WIDTHS = (32, 64, 128, 256)
ACTIVATIONS = ("sigmoid", "relu", "leakyrelu")
NORMS = ("none", "batch", "layer", "instance", "group")
POOLINGS = ("none", "max", "avg")
LEAKY_SLOPE = 0.01  # DC benchmark's LeakyReLU(negative_slope=0.01)

_ID_PATTERN = re.compile(r"^d(\d+)-w(\d+)-([a-z]+)-([a-z]+)-([a-z]+)$")


class InvalidArchitectureError(InputError):
    """Raised for an architecture id or spec outside the space."""


@dataclass(frozen=True, order=True)
class ConvNetSpec:
    """One point of convnet720; its string id is also its database key.

    Example:
        >>> ConvNetSpec.parse("d3-w128-relu-instance-avg").depth
        3
    """

    depth: int = 3  # default network of the DC literature (docs/search-spaces.md#convnet720)
    width: int = 128
    activation: str = "relu"
    norm: str = "instance"
    pooling: str = "avg"

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("depth", self.depth, DEPTHS),
            ("width", self.width, WIDTHS),
            ("activation", self.activation, ACTIVATIONS),
            ("norm", self.norm, NORMS),
            ("pooling", self.pooling, POOLINGS),
        ):
            if value not in allowed:
                raise InvalidArchitectureError(
                    f"{name}={value!r} is not in convnet720; choose one of {list(allowed)}"
                )

    @property
    def id(self) -> str:
        return f"d{self.depth}-w{self.width}-{self.activation}-{self.norm}-{self.pooling}"

    def params(self) -> dict[str, int | str]:
        return asdict(self)

    def block_widths(self) -> tuple[int, int]:
        """Channels of the first block's and the last block's feature maps."""
        return self.width, self.width

    @classmethod
    def parse(cls, arch_id: str) -> ConvNetSpec:
        """Parse an id such as ``d3-w128-relu-instance-avg``.

        Raises:
            InvalidArchitectureError: with the expected format and allowed values.
        """
        match = _ID_PATTERN.match(arch_id.strip())
        if match is None:
            raise InvalidArchitectureError(
                f"invalid architecture id {arch_id!r}: expected "
                "d<depth>-w<width>-<activation>-<norm>-<pooling>, e.g. d3-w128-relu-instance-avg"
            )
        depth, width, act, norm, pool = match.groups()
        return cls(int(depth), int(width), act, norm, pool)


def enumerate_specs() -> list[ConvNetSpec]:
    """All 720 points in a fixed order (depth, width, activation, norm, pooling)."""
    return [
        ConvNetSpec(*point)
        for point in itertools.product(DEPTHS, WIDTHS, ACTIVATIONS, NORMS, POOLINGS)
    ]


def _norm_layer(norm: str, channels: int, size: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "layer":
        return nn.LayerNorm([channels, size, size])
    if norm == "instance":
        return nn.GroupNorm(channels, channels)
    if norm == "group":
        return nn.GroupNorm(4, channels)
    return nn.Identity()


def _activation(name: str) -> nn.Module:
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "leakyrelu":
        return nn.LeakyReLU(LEAKY_SLOPE)
    return nn.ReLU()


class ConvNet(nn.Module):
    """ConvNet of the DC literature; ``embed`` returns the flattened features before the head."""

    def __init__(self, spec: ConvNetSpec, in_channels: int, num_classes: int, im_size: int):
        super().__init__()
        check_input_size(spec, im_size)
        layers: list[nn.Module] = []
        channels, size = in_channels, im_size
        for _ in range(spec.depth):
            layers += [
                nn.Conv2d(channels, spec.width, kernel_size=3, padding=1),
                _norm_layer(spec.norm, spec.width, size),
                _activation(spec.activation),
            ]
            channels = spec.width
            if spec.pooling != "none":
                layers.append(nn.MaxPool2d(2, 2) if spec.pooling == "max" else nn.AvgPool2d(2, 2))
                size //= 2
        self.features = nn.Sequential(*layers)
        self.depth = spec.depth
        self.embed_dim = channels * size * size
        self.classifier = nn.Linear(self.embed_dim, num_classes)

    def blocks(self) -> tuple[nn.Module, nn.Module]:
        """(first conv block, the remaining blocks) of ``features`` (ELF splits here)."""
        per_block = len(self.features) // self.depth
        return self.features[:per_block], self.features[per_block:]

    def head(self, h):
        """Logits from the last block's feature maps."""
        return self.classifier(h.flatten(1))

    def embed(self, x):
        return self.features(x).flatten(1)

    def forward(self, x):
        return self.classifier(self.embed(x))


def build_convnet(
    spec: ConvNetSpec | str, *, in_channels: int = 3, num_classes: int = 10, im_size: int = 32
) -> ConvNet:
    """The only builder of convnet720 networks (weights from torch's current RNG state)."""
    if isinstance(spec, str):
        spec = ConvNetSpec.parse(spec)
    return ConvNet(spec, in_channels, num_classes, im_size)


def check_input_size(spec: ConvNetSpec, im_size: int) -> None:
    """Raise InvalidArchitectureError if ``spec`` cannot run on ``im_size`` x ``im_size``."""
    if spec.pooling != "none" and im_size < 2**spec.depth:
        raise InvalidArchitectureError(
            f"{spec.id} pools {spec.depth} times and needs inputs of at least "
            f"{2**spec.depth}x{2**spec.depth}; the data is {im_size}x{im_size} (use --resize "
            f"or --where depth=...)")


def count_params(spec: ConvNetSpec, *, in_channels: int = 3, num_classes: int = 10,
                 im_size: int = 32) -> int:
    """Trainable parameters, computed analytically (equal to the built network's)."""
    total, channels, size = 0, in_channels, im_size
    for _ in range(spec.depth):
        total += spec.width * channels * 9 + spec.width
        if spec.norm in ("batch", "instance", "group"):
            total += 2 * spec.width
        elif spec.norm == "layer":
            total += 2 * spec.width * size * size
        channels = spec.width
        if spec.pooling != "none":
            size //= 2
    return total + channels * size * size * num_classes + num_classes


def count_macs(spec: ConvNetSpec, *, in_channels: int = 3, num_classes: int = 10,
                im_size: int = 32) -> int:
    """Multiply-accumulates of one forward pass for one image (convs and head)."""
    total, channels, size = 0, in_channels, im_size
    for _ in range(spec.depth):
        total += spec.width * channels * 9 * size * size
        channels = spec.width
        if spec.pooling != "none":
            size //= 2
    return total + channels * size * size * num_classes
