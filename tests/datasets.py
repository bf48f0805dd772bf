"""Writers of tiny real datasets in every supported on-disk format (used by the tests)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nas import api
from nas.core.data import DataConfig
from storage import Database

CLASS_NAMES = ("red", "green", "blue")


def class_images(n_per_class: int, size: int, seed: int, channels: int = 3) -> tuple:
    """Learnable images: class c is bright in channel c (or band c for grey), plus noise."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in range(len(CLASS_NAMES)):
        base = rng.integers(0, 60, size=(n_per_class, size, size, channels))
        if channels == 3:
            base[..., c] += 150
        else:
            base[:, c * size // 3:(c + 1) * size // 3] += 150
        images.append(base.clip(0, 255).astype(np.uint8))
        labels += [c] * n_per_class
    return np.concatenate(images), np.array(labels)


def class_tensors(n_per_class: int, size: int, seed: int = 0) -> tuple:
    """``class_images`` as training tensors: standardised float (N, 3, H, W) and int64 labels."""
    images, labels = class_images(n_per_class, size, seed)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
    return (x - x.mean()) / x.std(), torch.from_numpy(labels)


def write_image_folder(root: Path, *, n_train: int = 20, n_test: int = 6, size: int = 16,
                       grey: bool = False, suffix: str = ".png") -> Path:
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = class_images(n, size, seed, channels=1 if grey else 3)
        for i, (img, label) in enumerate(zip(images, labels, strict=True)):
            folder = root / split / CLASS_NAMES[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img[..., 0] if grey else img).save(folder / f"{i:04d}{suffix}")
    return root


def write_cifar_batches(root: Path, *, n_per_batch: int = 12, size: int = 32) -> Path:
    root.mkdir(parents=True, exist_ok=True)

    def dump(name: str, seed: int) -> None:
        images, labels = class_images(n_per_batch // 3, size, seed)
        data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
        with open(root / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels.tolist()}, f)

    for i in range(1, 6):
        dump(f"data_batch_{i}", i)
    dump("test_batch", 9)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in CLASS_NAMES]}, f)
    return root


def write_idx(root: Path, *, n_train: int = 10, n_test: int = 4, size: int = 28,
              compress: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if compress else open
    ext = ".gz" if compress else ""
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = class_images(n, size, seed, channels=1)
        with opener(root / f"{prefix}-images-idx3-ubyte{ext}", "wb") as f:
            f.write(struct.pack(">HBBIII", 0, 8, 3, len(images), size, size))
            f.write(images[..., 0].tobytes())
        with opener(root / f"{prefix}-labels-idx1-ubyte{ext}", "wb") as f:
            f.write(struct.pack(">HBBI", 0, 8, 1, len(labels)))
            f.write(labels.astype(np.uint8).tobytes())
    return root


def write_dc_result(path: Path, experiments: list[tuple]) -> Path:
    """A result file as the dataset-condensation code saves it (``res_*.pt``): one
    [images, labels] per experiment, and its accuracies as numpy scalars."""
    torch.save({"data": [[x, y] for x, y in experiments],
                "accs_all_exps": {"ConvNet": [np.float64(0.25), np.float64(0.5)]}}, path)
    return path


def two_class_data(tmp_path_factory, name: str, n_train: int):
    """The red and green classes of a tiny written image folder, prepared with their own
    cache (for module-scoped fixtures, which cannot use the per-test cache fixture)."""
    from nas import api
    from nas.core.data import DataConfig

    root = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NAS_CACHE", str(root / "cache"))
        return api.load_data(DataConfig(path=str(write_image_folder(root / "f", n_train=n_train)),
                                        classes=("red", "green")))


def tiny_project(root: Path, *, val_fraction: float = 0.0):
    """(db, data, dataset) on a tiny written image folder under ``root``: a real SQLite file
    and the dataset registered, as the proxy tests start."""
    data = api.load_data(DataConfig(path=str(write_image_folder(root / "data", n_train=12)),
                                    val_fraction=val_fraction))
    db = Database(f"sqlite:///{root / 'nas.db'}")
    return db, data, api.register_dataset(db, data)
