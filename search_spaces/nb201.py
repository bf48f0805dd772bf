"""NAS-Bench-201's cell space (Dong & Yang, ICLR 2020): 15,625 cell networks, C=16, N=5.

Network: 3x3 conv stem (no bias) + BN; three stages of N cells at C, 2C and 4C channels with a
residual reduction block between stages; head BN -> ReLU -> global average pool -> linear.
A cell has 4 nodes; node j is the sum over i < j of op_{i->j}(node i), its output is node 3.
Each of the 6 edges is one of ``OPS``. Enumeration order is the benchmark's own index order
(read from the packaged table ``data/nb201.csv.gz``; see docs/nas-bench-201.md).

Architecture ids are the benchmark's cell strings, e.g. the ResNet-like cell (index 11472)
``|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|``;
``parse`` also accepts ``nb201-<index>`` (quote cell strings in a shell: they contain ``|``).
"""

from __future__ import annotations

import csv
import gzip
import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.convnet720 import InvalidArchitectureError

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ("edge_0_1", "edge_0_2", "edge_1_2", "edge_0_3", "edge_1_3", "edge_2_3")  # i -> j
C = 16  # channels of the first stage (NAS-Bench-201 paper, Figure 1: macro skeleton)
N = 5  # cells per stage (same figure)
NUM_ARCHS = len(OPS) ** len(EDGES)  # 15,625
MIN_IM_SIZE = 4  # two stride-2 reductions leave at least 1x1
TABLE = "nb201.csv.gz"  # packaged with search_spaces (arch_index, ops, accuracies)

_INDEX_PATTERN = re.compile(r"^nb201-(\d+)$")
_CELL_PATTERN = re.compile(
    r"^\|([a-z0-9_]+)~0\|\+\|([a-z0-9_]+)~0\|([a-z0-9_]+)~1\|"
    r"\+\|([a-z0-9_]+)~0\|([a-z0-9_]+)~1\|([a-z0-9_]+)~2\|$")


@dataclass(frozen=True, order=True)
class Nb201Spec:
    """One NAS-Bench-201 cell: the operation on each of its six edges.

    Example:
        >>> Nb201Spec.parse("nb201-11472").edge_0_3
        'skip_connect'
    """

    edge_0_1: str
    edge_0_2: str
    edge_1_2: str
    edge_0_3: str
    edge_1_3: str
    edge_2_3: str

    def __post_init__(self) -> None:
        for name in EDGES:
            if getattr(self, name) not in OPS:
                raise InvalidArchitectureError(
                    f"{name}={getattr(self, name)!r} is not an nb201 operation; choose one "
                    f"of {list(OPS)}")

    @property
    def ops(self) -> tuple[str, ...]:
        return tuple(getattr(self, name) for name in EDGES)

    @property
    def id(self) -> str:
        """The benchmark's cell string (node 1 | node 2 | node 3, each ``op~source``)."""
        o = self.ops
        return (f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|")

    @property
    def index(self) -> int:
        """Index of this cell in NAS-Bench-201 (0..15624)."""
        return _index_of()[self.ops]

    def params(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in EDGES}

    def block_widths(self) -> tuple[int, int]:
        """Channels of ``Nb201Net.first``'s and ``rest``'s outputs."""
        return C, 4 * C

    @classmethod
    def parse(cls, arch_id: str) -> Nb201Spec:
        """Parse a cell string or ``nb201-<index>``.

        Raises:
            InvalidArchitectureError: with the expected formats.
        """
        text = arch_id.strip()
        match = _INDEX_PATTERN.match(text)
        if match is not None:
            index = int(match.group(1))
            if index >= NUM_ARCHS:
                raise InvalidArchitectureError(
                    f"nb201 index {index} is out of range 0..{NUM_ARCHS - 1}")
            return cls(*_ops_table()[index])
        match = _CELL_PATTERN.match(text)
        if match is None:
            raise InvalidArchitectureError(
                f"invalid nb201 architecture id {arch_id!r}: expected a cell string such as "
                "'|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|"
                "skip_connect~2|' or nb201-<index 0..15624>")
        return cls(*match.groups())


def read_table() -> list[dict[str, str]]:
    """Rows of the packaged benchmark table, in index order (strings as stored)."""
    with resources.files("search_spaces").joinpath("data", TABLE).open("rb") as raw, \
            gzip.open(raw, "rt", newline="") as text:
        return list(csv.DictReader(text))


@cache
def _ops_table() -> tuple[tuple[str, ...], ...]:
    rows = read_table()
    if len(rows) != NUM_ARCHS or any(int(r["arch_index"]) != i for i, r in enumerate(rows)):
        raise RuntimeError(f"packaged {TABLE} is damaged: expected {NUM_ARCHS} rows in order")
    return tuple(tuple(OPS[int(c)] for c in r["ops"]) for r in rows)


@cache
def _index_of() -> dict[tuple[str, ...], int]:
    return {ops: i for i, ops in enumerate(_ops_table())}


def enumerate_specs() -> list[Nb201Spec]:
    """All 15,625 cells, position i = NAS-Bench-201 index i."""
    return [Nb201Spec(*ops) for ops in _ops_table()]


class _ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out))


class _Zero(nn.Module):
    def forward(self, x):
        return x.mul(0.0)


class AvgPool3x3(nn.Module):
    """The benchmark's ``avg_pool_3x3``: 3x3 mean, stride 1, padding 1, padded pixels not
    counted (``nn.AvgPool2d(3, 1, 1, count_include_pad=False)``), computed as a depthwise
    convolution with a kernel of ones divided by the per-pixel count. Same numbers up to
    float rounding; 4-7x faster forward + backward on CPU, whose average-pooling kernels
    are slow (docs/speed.md#this-machine)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels, size = x.shape[1], x.shape[-2:]
        total = F.conv2d(x, x.new_ones(channels, 1, 3, 3), padding=1, groups=channels)
        count = F.conv2d(x.new_ones(1, 1, *size), x.new_ones(1, 1, 3, 3), padding=1)
        return total / count


def _op(name: str, channels: int) -> nn.Module:
    if name == "none":
        return _Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return _ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return _ReLUConvBN(channels, channels, 3)
    return AvgPool3x3()


_SOURCE = (0, 0, 1, 0, 1, 2)  # source node of each edge, in EDGES order
_INTO = ((0,), (1, 2), (3, 4, 5))  # edges into nodes 1, 2, 3


def live_inputs(ops: tuple[str, ...]) -> tuple[tuple[int, ...] | None, ...]:
    """For nodes 1-3 of a cell with edge operations ``ops`` (EDGES order): the edges into
    the node that can change the cell's output, or None for a node that cannot (every path
    from it to node 3 crosses a "none" edge). A "none" edge is never live: it adds zeros."""
    needed_2 = ops[5] != "none"
    needed_1 = ops[4] != "none" or (ops[2] != "none" and needed_2)
    return tuple(tuple(e for e in edges if ops[e] != "none") if needed else None
                 for edges, needed in zip(_INTO, (needed_1, needed_2, True), strict=True))


class Cell(nn.Module):
    """One cell: node j = sum over i < j of edge (i -> j) applied to node i.

    While autograd records (training, gradient-based scores) only the ``live_inputs`` edges
    run. The output and the gradients of the weights that shape it are the benchmark's
    exactly (adding zeros changes no number); the skipped edges' weights get no gradient
    (so no weight decay) and their batch-norm statistics stay put, none of which reaches
    the output. Training the speed mix's 50 cells took 1.13x less time this way
    (docs/speed.md#this-machine). Without autograd every edge runs, as in the
    benchmark's code, so activation hooks (NASWOT's codes) see every layer; so does every
    pass when ``every_edge`` is set (the speed benchmark's reference, the published code).
    """

    def __init__(self, spec: Nb201Spec, channels: int):
        super().__init__()
        self.edges = nn.ModuleList(_op(name, channels) for name in spec.ops)
        self.live = live_inputs(spec.ops)
        self.every_edge = False

    def forward(self, x):
        e = self.edges
        if self.every_edge or not torch.is_grad_enabled():
            n1 = e[0](x)
            n2 = e[1](x) + e[2](n1)
            return e[3](x) + e[4](n1) + e[5](n2)
        nodes = [x]
        for live in self.live:
            if live is None:  # feeds only zeros into the output: never read
                nodes.append(None)
                continue
            terms = [e[i](nodes[_SOURCE[i]]) for i in live]
            node = terms[0] if terms else x.mul(0.0)  # no live input: zeros, as "none" gives
            for term in terms[1:]:
                node = node + term
            nodes.append(node)
        return nodes[3]


def compute_every_edge(net: nn.Module, every: bool = True) -> nn.Module:
    """``net`` with every ``Cell`` computing all its edges while training too (``every``), as
    the benchmark's code does, or skipping those that cannot change its output."""
    for module in net.modules():
        if isinstance(module, Cell):
            module.every_edge = every
    return net


class ResidualReduction(nn.Module):
    """Between stages: ReLU-conv3x3/2-BN, ReLU-conv3x3-BN, plus AvgPool(2,2) + 1x1 conv."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = _ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = _ReLUConvBN(c_out, c_out, 3)
        # ceil_mode: identical to the benchmark on even sizes, and keeps odd sizes aligned
        # with the stride-2 conv (ceil(s/2)) where the benchmark's code would fail
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2, ceil_mode=True),
                                      nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x):
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


class Nb201Net(nn.Module):
    """The benchmark's evaluation network of one cell; ``embed`` returns pooled features.

    ``first`` (stem + stage 1) and ``rest`` (stages 2-3 and the head's BN-ReLU) split the
    feature extractor (``blocks``, for ELF); ``head`` maps ``rest``'s output to logits.
    """

    def __init__(self, spec: Nb201Spec, in_channels: int, num_classes: int, im_size: int):
        super().__init__()
        check_input_size(spec, im_size)
        stages = [nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C)]
        stages += [Cell(spec, C) for _ in range(N)]
        self.first = nn.Sequential(*stages)
        rest: list[nn.Module] = []
        for c_in, c_out in ((C, 2 * C), (2 * C, 4 * C)):
            rest.append(ResidualReduction(c_in, c_out))
            rest += [Cell(spec, c_out) for _ in range(N)]
        rest += [nn.BatchNorm2d(4 * C), nn.ReLU(inplace=False)]
        self.rest = nn.Sequential(*rest)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embed_dim = 4 * C
        self.classifier = nn.Linear(4 * C, num_classes)

    def blocks(self) -> tuple[nn.Module, nn.Module]:
        """(stem + stage 1, the rest up to the pooling): ELF splits here."""
        return self.first, self.rest

    def head(self, h):
        """Logits from ``rest``'s feature maps."""
        return self.classifier(self.pool(h).flatten(1))

    def embed(self, x):
        return self.pool(self.rest(self.first(x))).flatten(1)

    def forward(self, x):
        return self.classifier(self.embed(x))


def build_nb201(spec: Nb201Spec | str, *, in_channels: int = 3, num_classes: int = 10,
                im_size: int = 32) -> Nb201Net:
    """The only builder of nb201 networks (weights from torch's current RNG state)."""
    if isinstance(spec, str):
        spec = Nb201Spec.parse(spec)
    return Nb201Net(spec, in_channels, num_classes, im_size)


def check_input_size(spec: Nb201Spec, im_size: int) -> None:
    """Raise InvalidArchitectureError if ``im_size`` is too small for two reductions."""
    if im_size < MIN_IM_SIZE:
        raise InvalidArchitectureError(
            f"nb201 networks reduce the input twice and need at least {MIN_IM_SIZE}x"
            f"{MIN_IM_SIZE} images; the data is {im_size}x{im_size} (use --resize)")


def _stage_sizes(im_size: int) -> tuple[int, int, int]:
    s2 = math.ceil(im_size / 2)
    return im_size, s2, math.ceil(s2 / 2)


def _conv_counts(spec: Nb201Spec) -> tuple[int, int]:
    return spec.ops.count("nor_conv_1x1"), spec.ops.count("nor_conv_3x3")


def count_params(spec: Nb201Spec, *, in_channels: int = 3, num_classes: int = 10,
                 im_size: int = 32) -> int:
    """Trainable parameters, computed analytically (equal to the built network's)."""
    n1, n3 = _conv_counts(spec)
    total = in_channels * C * 9 + 2 * C  # stem conv + BN
    for c in (C, 2 * C, 4 * C):
        total += N * (n1 * (c * c + 2 * c) + n3 * (9 * c * c + 2 * c))
    for c_in, c_out in ((C, 2 * C), (2 * C, 4 * C)):
        total += 9 * c_in * c_out + 9 * c_out * c_out + 4 * c_out + c_in * c_out
    return total + 2 * 4 * C + 4 * C * num_classes + num_classes


def count_macs(spec: Nb201Spec, *, in_channels: int = 3, num_classes: int = 10,
                im_size: int = 32) -> int:
    """Multiply-accumulates of one forward pass for one image (convolutions and the linear
    head; pooling, BN and additions are not counted). The NAS-Bench-201 paper's "FLOPs"."""
    n1, n3 = _conv_counts(spec)
    s1, s2, s3 = _stage_sizes(im_size)
    total = in_channels * C * 9 * s1 * s1
    for c, s in ((C, s1), (2 * C, s2), (4 * C, s3)):
        total += N * (n1 + 9 * n3) * c * c * s * s
    for c_in, c_out, s in ((C, 2 * C, s2), (2 * C, 4 * C, s3)):
        total += (9 * c_in * c_out + 9 * c_out * c_out + c_in * c_out) * s * s
    return total + 4 * C * num_classes

