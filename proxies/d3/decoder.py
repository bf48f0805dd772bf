"""Shared decoder: latent vector -> image at the dataset's size and channels (D3)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BASE = 4  # spatial size of the first feature map


class Decoder(nn.Module):
    """Linear to (width, 4, 4), then [upsample x2 -> conv3x3 -> norm -> ReLU] blocks up to the
    image size, then a 3x3 conv to ``channels``. Output is in the trainer's standardised
    image space (no squashing)."""

    def __init__(self, latent_dim: int, channels: int, im_size: int, width: int = 64):
        super().__init__()
        self.width, self.im_size = width, im_size
        self.stem = nn.Linear(latent_dim, width * BASE * BASE)
        ups = max(0, math.ceil(math.log2(im_size / BASE)))
        self.blocks = nn.Sequential(*(nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(width, width, 3, padding=1),
            nn.GroupNorm(min(8, width), width),
            nn.ReLU()) for _ in range(ups)))
        self.head = nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(N, latent_dim) -> float (N, channels, im_size, im_size)."""
        h = self.stem(z).view(len(z), self.width, BASE, BASE)
        h = self.head(self.blocks(h))
        if h.shape[-1] != self.im_size:
            h = F.interpolate(h, size=(self.im_size, self.im_size), mode="bilinear",
                              align_corners=False)
        return h
