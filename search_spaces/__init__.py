"""Search spaces, registered by name (``get_space("convnet720")``).

What every space provides: a spec (``id``, ``params()`` = its factors, ``block_widths()``)
and a network (``embed(x)``, ``blocks()`` = (first block, the rest), ``head(h)`` = logits
from the last block's maps), so training, zero-cost scores and ELF need no space by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from nas.registry import Registry
from search_spaces import nb201
from search_spaces.convnet720 import (
    ConvNetSpec,
    InvalidArchitectureError,
    build_convnet,
    check_input_size,
    count_macs,
    count_params,
    enumerate_specs,
)
from search_spaces.nb201 import Nb201Spec, build_nb201

__all__ = [
    "ConvNetSpec",
    "InvalidArchitectureError",
    "Nb201Spec",
    "SearchSpace",
    "build_convnet",
    "build_nb201",
    "get_space",
    "list_spaces",
]


@dataclass(frozen=True)
class SearchSpace:
    """A named family: enumerate/parse specs and build networks for a data shape."""

    name: str
    enumerate: Callable[[], list[ConvNetSpec]]
    parse: Callable[[str], ConvNetSpec]
    build: Callable[..., nn.Module]
    count_params: Callable[..., int]
    count_macs: Callable[..., int]
    check_input_size: Callable[[ConvNetSpec, int], None]

    def macs(self, arch_id: str, **shape: int) -> int:
        """Forward multiply-accumulates of one image through ``arch_id``'s network built for
        ``shape`` (``in_channels``, ``num_classes``, ``im_size``)."""
        return self.count_macs(self.parse(arch_id), **shape)


SPACES: Registry[SearchSpace] = Registry("search space")
SPACES.add("convnet720", SearchSpace(
    "convnet720", enumerate_specs, ConvNetSpec.parse, build_convnet, count_params, count_macs,
    check_input_size))
SPACES.add("nb201", SearchSpace(
    "nb201", nb201.enumerate_specs, Nb201Spec.parse, build_nb201, nb201.count_params,
    nb201.count_macs, nb201.check_input_size))


def list_spaces(pattern: str = "*") -> list[str]:
    return SPACES.names(pattern)


def get_space(name: str) -> SearchSpace:
    """Raises UnknownNameError listing the registered spaces."""
    return SPACES.get(name)
