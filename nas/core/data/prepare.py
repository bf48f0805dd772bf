"""Turn a raw dataset into the train/val/test tensors every experiment uses."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from nas.core.data.loaders import DataError, RawDataset
from nas.core.data.source import portable_path
from nas.errors import InputError


@dataclass(frozen=True)
class DataConfig:
    """How a raw dataset becomes an experiment's splits; its hash keys the dataset row."""

    path: str
    resize: int | None = None  # e.g. 16 for the CPU presets; None keeps the native size
    classes: tuple[str, ...] | None = None  # class names (or indices as strings); None = all
    per_class: int | None = None  # train images kept per class before the val split; None = all
    test_per_class: int | None = None  # test images kept per class; None = all
    val_fraction: float = 0.1  # 10% held out for validation (docs/papers.md#training-protocol)
    split_seed: int = 0

    def __post_init__(self) -> None:
        """Raises InputError naming the bad value (before any data is read)."""
        for name in ("resize", "per_class", "test_per_class"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if not 0 <= self.val_fraction < 1:
            raise InputError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if self.split_seed < 0:
            raise InputError(f"--split-seed must be >= 0, got {self.split_seed}")

    def to_dict(self) -> dict:
        """The fields as results record them (``path`` made portable: ``portable_path``)."""
        d = asdict(self)
        d["path"] = portable_path(self.path)
        d["classes"] = list(self.classes) if self.classes else None
        return d


@dataclass(frozen=True)
class PreparedData:
    """Splits as uint8 tensors (N, C, H, W) with int64 labels in 0..K-1, plus normalisation."""

    config: DataConfig
    content_hash: str
    class_names: tuple[str, ...]
    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def im_size(self) -> int:
        return int(self.train_images.shape[-1])

    @property
    def key(self) -> str:
        """Identity of (source content, preparation config): the dataset's database key."""
        cfg = self.config.to_dict()
        cfg.pop("path")  # the same bytes at another path are the same dataset
        blob = json.dumps({"content": self.content_hash, **cfg}, sort_keys=True)
        return hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) -> float32 standardised with the train split's statistics."""
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        return (images.float().div_(255) - mean) / std

    def describe(self) -> dict:
        return {
            "classes": list(self.class_names),
            "train": len(self.train_labels),
            "val": len(self.val_labels),
            "test": len(self.test_labels),
            "shape": list(self.train_images.shape[1:]),
        }


def _select_classes(raw: RawDataset, classes: tuple[str, ...] | None) -> list[int]:
    if not classes:
        return list(range(len(raw.class_names)))
    chosen = []
    for name in classes:
        if name in raw.class_names:
            chosen.append(raw.class_names.index(name))
        elif name.isdigit() and int(name) < len(raw.class_names):
            chosen.append(int(name))
        else:
            raise DataError(f"unknown class {name!r}; the dataset has {list(raw.class_names)}")
    return chosen


def _per_class_indices(labels: torch.Tensor, classes: list[int], limit: int | None,
                       generator: torch.Generator) -> list[torch.Tensor]:
    out = []
    for c in classes:
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        out.append(idx[:limit] if limit else idx)
    return out


def _resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    if size is None or images.shape[-1] == size:
        return images
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True,
                        align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def prepare(raw: RawDataset, config: DataConfig) -> PreparedData:
    """Deterministic, stratified split: per class, ``val_fraction`` of the kept train images
    become validation; labels are re-indexed to the chosen classes' order."""
    classes = _select_classes(raw, config.classes)
    generator = torch.Generator().manual_seed(config.split_seed)
    train_parts, val_parts = [], []
    for idx in _per_class_indices(raw.train_labels, classes, config.per_class, generator):
        n_val = round(len(idx) * config.val_fraction)
        val_parts.append(idx[:n_val])
        train_parts.append(idx[n_val:])
    test_parts = _per_class_indices(raw.test_labels, classes, config.test_per_class, generator)
    remap = torch.full((len(raw.class_names),), -1, dtype=torch.int64)
    remap[classes] = torch.arange(len(classes))

    def take(images: torch.Tensor, labels: torch.Tensor, parts: list[torch.Tensor]):
        idx = torch.cat(parts).sort().values
        return _resize(images[idx], config.resize), remap[labels[idx]]

    train = take(raw.train_images, raw.train_labels, train_parts)
    if len(train[1]) == 0:
        raise DataError(f"{config.path}: no training images left after selection")
    val = take(raw.train_images, raw.train_labels, val_parts)
    test = take(raw.test_images, raw.test_labels, test_parts)
    pixels = train[0].float().div(255).transpose(0, 1).flatten(1)
    return PreparedData(
        config, raw.content_hash, tuple(raw.class_names[c] for c in classes),
        *train, *val, *test,
        mean=tuple(pixels.mean(1).tolist()), std=tuple(pixels.std(1).clamp_min(1e-3).tolist()),
    )
