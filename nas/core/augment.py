"""Differentiable Siamese Augmentation (DSA) on whole batches of tensors.

Zhao & Bilen (2021). Mode 'S': one family per batch, parameters drawn per sample (or one set
for the whole batch when ``siamese`` so a real and a synthetic batch get the same transform).
Everything is differentiable with respect to the images, so distillation can use it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nas.errors import InputError

DEFAULT_STRATEGY = "color_crop_cutout_flip_scale_rotate"  # DSA / DM / D2M evaluation default


@dataclass(frozen=True)
class DSAConfig:
    """Parameters of each family, the DSA reference implementation's (``ParamDiffAug``).

    Ranges drawn per image (or once per siamese batch), see docs/papers.md:
    brightness + U(-0.5, 0.5) * brightness; saturation x U(0, 1) * saturation; contrast x
    U(0, 1) + contrast; crop: whole-pixel shifts uniform on -s..s with s = round(crop * size)
    (4 at 32 px); cutout: a zeroed square of side round(cutout * size) (16 at 32 px) centred
    uniformly, clipped at the borders; flip with probability ``flip``; scale: each axis
    U(1 / scale, scale); rotate: U(-rotate, rotate) degrees.
    """

    strategy: str = DEFAULT_STRATEGY
    brightness: float = 1.0
    saturation: float = 2.0
    contrast: float = 0.5
    crop: float = 0.125  # translate up to this fraction of the size
    cutout: float = 0.5  # side of the erased square as a fraction of the size
    flip: float = 0.5
    scale: float = 1.2
    rotate: float = 15.0  # degrees

    @property
    def families(self) -> tuple[str, ...]:
        if self.strategy in ("", "none"):
            return ()
        families = tuple(self.strategy.split("_"))
        unknown = set(families) - set(_FAMILIES)
        if unknown:
            raise InputError(
                f"unknown DSA families {sorted(unknown)}; choose from {list(_FAMILIES)}")
        return families


@dataclass(frozen=True)
class AugParams:
    family: str
    values: tuple[torch.Tensor, ...]


def _rand(n: int, generator: torch.Generator, siamese: bool, k: int = 1) -> torch.Tensor:
    r = torch.rand(1 if siamese else n, k, generator=generator)
    return r.expand(n, k) if siamese else r


def _affine(x: torch.Tensor, theta: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode=mode, align_corners=True)


class DSA:
    """Batched DSA augmenter; ``dsa(x, generator)`` augments a batch in one family."""

    def __init__(self, config: DSAConfig = DSAConfig()):
        self.config = config
        self.families = config.families

    def sample(self, n: int, generator: torch.Generator, *,
               siamese: bool = False) -> AugParams | None:
        """Draw a family and its parameters for a batch of ``n`` images (CPU generator)."""
        if not self.families:
            return None
        family = self.families[int(torch.randint(len(self.families), (1,), generator=generator))]
        c = self.config
        r = _rand(n, generator, siamese, k=3)
        if family == "color":
            values = (r[:, 0] - 0.5) * c.brightness, r[:, 1] * c.saturation, r[:, 2] + c.contrast
        elif family in ("crop", "cutout"):
            values = (r[:, :2],)  # uniforms, made whole pixels once the image size is known
        elif family == "flip":
            values = (r[:, 0] < c.flip,)
        elif family == "scale":
            values = (1 / c.scale + r[:, :2] * (c.scale - 1 / c.scale),)
        else:  # rotate
            values = ((r[:, 0] - 0.5) * 2 * math.radians(c.rotate),)
        return AugParams(family, values)

    def apply(self, x: torch.Tensor, params: AugParams | None) -> torch.Tensor:
        """Apply drawn parameters to ``x`` (N, C, H, W); returns a new tensor."""
        if params is None:
            return x
        return _FAMILIES[params.family](self, x, *(v.to(x.device) for v in params.values))

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply(x, self.sample(len(x), generator))

    def _color(self, x, brightness, saturation, contrast):
        x = x + brightness.view(-1, 1, 1, 1).to(x.dtype)
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * saturation.view(-1, 1, 1, 1).to(x.dtype) + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * contrast.view(-1, 1, 1, 1).to(x.dtype) + mean

    def _crop(self, x, u):
        """Translate by whole pixels, each of -s..s equally likely (s = round(crop * size), 4 at
        32 px); uncovered pixels are zero, as with the reference's pad-and-crop."""
        n, _, h, w = x.shape
        sizes = torch.tensor([w, h], device=x.device)  # theta's columns: x (width), then y
        reach = torch.floor(sizes * self.config.crop + 0.5)
        shift = (torch.floor(u * (2 * reach + 1)).clamp(max=2 * reach) - reach)  # (n, 2)
        theta = torch.zeros(n, 2, 3, device=x.device)
        theta[:, 0, 0] = theta[:, 1, 1] = 1
        theta[:, :, 2] = shift * 2 / (sizes - 1)  # align_corners=True: a pixel is 2/(size-1)
        return _affine(x, theta, mode="nearest")

    def _cutout(self, x, u):
        """Zero a square of side round(cutout * size) (16 at 32 px), clipped at the borders,
        its centre uniform over the reference's positions (0..size for an even side)."""
        n, _, h, w = x.shape
        ys = torch.arange(h, device=x.device).view(1, h, 1)
        xs = torch.arange(w, device=x.device).view(1, 1, w)
        hole = torch.ones(n, h, w, dtype=torch.bool, device=x.device)
        for axis, (size, coords) in enumerate(((h, ys), (w, xs))):
            side = int(size * self.config.cutout + 0.5)
            positions = size + 1 - side % 2
            centre = torch.floor(u[:, axis] * positions).clamp(max=positions - 1).long()
            start = (centre - side // 2).view(n, 1, 1)
            hole &= (coords >= start) & (coords < start + side)
        return x * (~hole).unsqueeze(1).to(x.dtype)

    def _flip(self, x, mask):
        return torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)

    def _scale(self, x, factors):
        theta = torch.zeros(len(x), 2, 3, device=x.device)
        theta[:, 0, 0], theta[:, 1, 1] = factors[:, 0], factors[:, 1]
        return _affine(x, theta)

    def _rotate(self, x, angle):
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack([torch.stack([cos, sin, torch.zeros_like(cos)], 1),
                             torch.stack([-sin, cos, torch.zeros_like(cos)], 1)], 1)
        return _affine(x, theta)


_FAMILIES = {
    "color": DSA._color,
    "crop": DSA._crop,
    "cutout": DSA._cutout,
    "flip": DSA._flip,
    "scale": DSA._scale,
    "rotate": DSA._rotate,
}
