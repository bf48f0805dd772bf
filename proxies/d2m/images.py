"""Pixel conversions between the generator's [-1, 1] space and the dataset's spaces, and
PNG sample grids a person can look at."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image


def uint8_to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) in 0..255 -> float32 in [-1, 1] (the generator's output range)."""
    return images.float().div(127.5).sub(1)


def unit_to_standardized(images: torch.Tensor, mean: tuple[float, ...],
                         std: tuple[float, ...]) -> torch.Tensor:
    """[-1, 1] images -> the trainer's input space (0..1 standardised with ``mean``/``std``);
    differentiable, so distillation losses can flow back into the generator."""
    m = torch.tensor(mean, device=images.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=images.device).view(1, -1, 1, 1)
    return ((images + 1) / 2 - m) / s


def save_grid(images: torch.Tensor, path: Path, nrow: int, scale: int = 2) -> None:
    """Save [-1, 1] images (N, C, H, W) as one PNG with ``nrow`` images per row."""
    n, c, h, w = images.shape
    rows = -(-n // nrow)
    pad = torch.ones(rows * nrow - n, c, h, w, device=images.device)
    x = torch.cat([images.detach().clamp(-1, 1), pad]).add(1).mul(127.5).round().byte().cpu()
    grid = x.view(rows, nrow, c, h, w).permute(0, 3, 1, 4, 2).reshape(rows * h, nrow * w, c)
    picture = Image.fromarray(grid.squeeze(-1).numpy() if c == 1 else grid.numpy())
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.resize((nrow * w * scale, rows * h * scale), Image.NEAREST).save(path)
