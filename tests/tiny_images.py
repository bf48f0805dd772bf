"""A tiny image-folder dataset written by tests: 16x16 PNGs, one bright pattern per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_tiny_dataset(root: Path, *, classes: int = 2, train: int = 24, test: int = 8,
                       size: int = 16, seed: int = 0) -> Path:
    """train/<class>/NNNN.png and test/<class>/NNNN.png; class c brightens the c-th band."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("test", test)):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                img = rng.integers(0, 120, (size, size, 3), dtype=np.uint8)
                band = slice(c * size // classes, (c + 1) * size // classes)
                img[band, :, c % 3] = 230
                Image.fromarray(img).save(folder / f"{i:04d}.png")
    return root
