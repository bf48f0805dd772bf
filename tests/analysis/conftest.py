"""Fixtures for the analysis tests: a tiny image-folder dataset and a SQLite database."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from storage import Database

CLASSES = ("circle", "square", "stripes")


def write_tiny_dataset(root: Path, train_per_class: int = 24, test_per_class: int = 10,
                       size: int = 16, seed: int = 0) -> Path:
    """Write train/<class>/NNNN.png and test/<class>/NNNN.png: noisy images whose class shows
    in their colour and pattern, so small networks learn them above chance."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    masks = {"circle": (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2,
             "square": (abs(yy - size / 2) < size / 4) & (abs(xx - size / 2) < size / 4),
             "stripes": (xx // 2) % 2 == 0}
    colours = {"circle": (220, 60, 60), "square": (60, 200, 60), "stripes": (60, 60, 220)}
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        for name in CLASSES:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = rng.normal(110, 40, size=(size, size, 3))
                img[masks[name]] = np.array(colours[name]) + rng.normal(0, 30, size=3)
                Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"{i:04d}.png")
    return root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny-images"))


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'nas.db'}"


@pytest.fixture
def db(db_url) -> Database:
    return Database(db_url)


@pytest.fixture(scope="session")
def tiny_bench(tiny_data, tmp_path_factory):
    """The ``tiny`` preset run once through the CLI: (database URL, report dir, data dir)."""
    from nas.cli import main

    root = tmp_path_factory.mktemp("tiny-bench")
    url, out = f"sqlite:///{root / 'nas.db'}", root / "report"
    assert main(["bench", "fidelity", "--preset", "tiny", "--data", str(tiny_data), "--db", url,
                 "--out", str(out), "--threads", "1"]) == 0
    return url, out, tiny_data
