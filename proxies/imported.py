"""Sets made elsewhere: checked against a dataset, then turned into proxy sets (and back).

An imported set is addressed by the name its user gives it (``nas proxy import FILE --name
NAME``, then ``--proxy NAME``). It is stored as a proxies row whose method is that name and
whose key is ``imported_key(name)``, so one name holds one set per database. What a file's
pixel values are is one of ``VALUES``; every check below refuses in one line (ValueError).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from nas.core.data import PreparedData
from nas.errors import InputError
from proxies.artifacts import MADE_BY
from proxies.base import ProxySet, is_set_name
from proxies.set_files import SetFile

# The CIFAR-10 mean/std the dataset-condensation and trajectory-matching code standardise
# with (docs/proxies.md#importing-and-exporting-sets); not CIFAR-10's true per-pixel std.
DC_CIFAR10 = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
VALUES = {  # name: what a file holding such values stores for a pixel u in [0, 1]
    "standardized": "(u - mean) / std with the dataset's own training mean/std "
                    "(what `nas proxy export` writes)",
    "cifar10-standardized": "(u - mean) / std with the CIFAR-10 constants of the "
                            "dataset-condensation code",
    "unit": "u",
    "uint8": "round(255 u)",
    "minus1to1": "2 u - 1",
}
RANGES = {"unit": (-0.5, 1.5), "minus1to1": (-2.0, 2.0), "uint8": (0.0, 255.0)}  # loose:
# distilled pixels overshoot; these catch a wrong --values, the statistics check the rest
MEAN_LIMIT = 1.0  # |per-channel mean| of an imported set, in the dataset's standardised space
STD_LIMITS = (0.4, 2.5)  # per-channel std there (the dataset's own: 0 and 1)
SOFT_LABELS = ("refuse", "argmax")


def imported_key(name: str) -> str:
    """The proxies-row key of the set imported under ``name``."""
    return hashlib.blake2b(f"imported:{name}".encode(), digest_size=12).hexdigest()


@dataclass(frozen=True)
class ImportConfig:
    """How to import a set: its name, what its values are, and what may be adapted.

    ``values``: one of VALUES, None to take it from the file (uint8 pixels, image folders,
    files ``nas proxy export`` wrote); ``rescale``: resize images of another resolution
    instead of refusing them; ``soft_labels``: "refuse", or "argmax" to train on each
    image's largest class; ``entry``: which set of a dataset-condensation result file.
    """

    name: str
    values: str | None = None
    rescale: bool = False
    soft_labels: str = "refuse"
    entry: int = 0

    def __post_init__(self) -> None:
        if not is_set_name(self.name) or self.name in MADE_BY:
            raise InputError(f"--name {self.name!r}: use 1-64 letters, digits, '.', '_' or "
                             "'-' (first a letter or digit), not a proxy method or artifact "
                             "kind")
        if self.values is not None and self.values not in VALUES:
            raise InputError(f"--values {self.values!r}: choose from {list(VALUES)}")
        if self.soft_labels not in SOFT_LABELS:
            raise InputError(f"--soft-labels {self.soft_labels!r}: choose from "
                             f"{list(SOFT_LABELS)}")
        if self.entry < 0:
            raise InputError(f"--entry must be >= 0, got {self.entry}")


def unit_affine(values: str, mean: Sequence[float], std: Sequence[float], channels: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (a, b) with u = a * x + b, from a file value x to a pixel u in [0, 1];
    ``mean``/``std``: the statistics "standardized" values use."""
    if values in ("standardized", "cifar10-standardized"):
        if values == "cifar10-standardized":
            if channels != 3:
                raise InputError(f"--values cifar10-standardized is for 3-channel images, "
                                 f"these have {channels}")
            mean, std = DC_CIFAR10
        a, b = torch.tensor(std), torch.tensor(mean)
    else:
        a, b = {"unit": (1.0, 0.0), "uint8": (1 / 255, 0.0), "minus1to1": (0.5, 0.5)}[values]
        a, b = torch.full((channels,), a), torch.full((channels,), b)
    return a.view(1, -1, 1, 1), b.view(1, -1, 1, 1)


def standardize(images: torch.Tensor, values: str, data_mean: Sequence[float],
                data_std: Sequence[float], file_stats: tuple | None = None) -> torch.Tensor:
    """File values -> float32 standardised with the dataset's mean/std (the trainer's input).
    ``file_stats``: (mean, std) a "standardized" file records, when not the dataset's; a
    file standardised with the dataset's own statistics passes through unchanged."""
    mean = torch.tensor(data_mean).view(1, -1, 1, 1)
    std = torch.tensor(data_std).view(1, -1, 1, 1)
    if values == "uint8":  # as PreparedData.normalize, so real pixels give the same floats
        return (images.float().div(255) - mean) / std
    own = values == "standardized" and (file_stats is None or (
        list(file_stats[0]) == list(data_mean) and list(file_stats[1]) == list(data_std)))
    if own:
        return images.float().clone()
    stats = file_stats or (data_mean, data_std)
    a, b = unit_affine(values, stats[0], stats[1], images.shape[1])
    return (images.float() * a + b - mean) / std


def file_values(images: torch.Tensor, values: str, data_mean: Sequence[float],
                data_std: Sequence[float]) -> torch.Tensor:
    """The inverse of ``standardize``: a stored set's images as a file of ``values`` holds
    them (uint8: rounded and clipped to 0..255)."""
    if values == "standardized":
        return images.clone()
    mean = torch.tensor(data_mean).view(1, -1, 1, 1)
    std = torch.tensor(data_std).view(1, -1, 1, 1)
    unit = images * std + mean
    if values == "uint8":
        return unit.mul(255).round_().clamp_(0, 255).to(torch.uint8)
    a, b = unit_affine(values, data_mean, data_std, images.shape[1])
    return (unit - b) / a


def _hard_labels(found: SetFile, data: PreparedData, cfg: ImportConfig, what: str,
                 notices: list[str]) -> torch.Tensor:
    """The file's labels as int64 classes of the dataset (by name where the file names them)."""
    labels, n, k = found.labels, len(found.images), data.num_classes
    named = f"{k} ({', '.join(data.class_names)})"
    if labels.dim() == 2 and labels.is_floating_point():
        if labels.shape[1] != k:
            raise InputError(f"{what} has soft labels over {labels.shape[1]} classes, the "
                             f"dataset {named}")
        if cfg.soft_labels != "argmax":
            raise InputError(f"{what} has soft labels ({n}x{k} floats); training takes one "
                             "class per image: pass --soft-labels argmax to use each image's "
                             "largest class")
        notices.append("soft labels: each image trains on its largest class (argmax)")
        labels = labels.argmax(1)
    if labels.dim() != 1 or labels.is_floating_point() or labels.dtype == torch.bool:
        raise InputError(f"{what} has labels of {labels.dtype} {tuple(labels.shape)}; expected "
                         "integer classes (N,) or soft labels (N, classes)")
    if len(labels) != n:
        raise InputError(f"{what} has {n} images but {len(labels)} labels")
    labels = labels.long()
    names = found.class_names
    if names is not None and not all(x.isdigit() for x in names):
        if len(names) != k:
            raise InputError(f"{what} has {len(names)} classes, the dataset {named}")
        unknown = sorted(set(names) - set(data.class_names))
        if unknown:
            raise InputError(f"{what} has classes {unknown} the dataset lacks; its classes "
                             f"are {list(data.class_names)}")
        return torch.tensor([data.class_names.index(x) for x in names])[labels]
    if names is not None:  # digit folder names are class indices
        labels = torch.tensor([int(x) for x in names])[labels]
    present = labels.unique()
    if len(labels) == 0 or int(labels.min()) < 0 or len(present) != k \
            or int(present.max()) != k - 1:
        found_k = max(len(present), int(labels.max()) + 1) if len(labels) else 0
        span = f"labels {int(labels.min())}..{int(labels.max())}" if len(labels) else "none"
        raise InputError(f"{what} has {found_k} classes ({span}), the dataset {named}; "
                         "import into a dataset of the same classes (--classes)")
    return labels


def _value_kind(found: SetFile, cfg: ImportConfig, what: str) -> str:
    recorded = (found.meta or {}).get("values")
    if found.format == "image-folder" or found.images.dtype == torch.uint8:
        inherent = "uint8"
    else:
        inherent = recorded
    if cfg.values is not None and inherent is not None and cfg.values != inherent:
        raise InputError(f"--values {cfg.values} but {what} holds {inherent} values")
    kind = cfg.values or inherent
    if kind is None:
        raise InputError(f"say what {what}'s pixel values are: --values "
                         f"{'|'.join(VALUES)} (dataset-condensation CIFAR-10 sets: "
                         "cifar10-standardized)")
    return kind


def _check_range(images: torch.Tensor, kind: str, what: str) -> None:
    if not torch.isfinite(images.float()).all():
        raise InputError(f"{what} holds NaN or infinite pixel values")
    if kind not in RANGES:
        return
    low, high = RANGES[kind]
    lo, hi = float(images.min()), float(images.max())
    if lo < low or hi > high or (kind == "uint8" and not torch.equal(images.float(),
                                                                     images.float().round())):
        raise InputError(f"{what}'s values span {lo:.3g}..{hi:.3g}, not {kind} pixels; pass "
                         f"the --values that says what it holds ({'|'.join(VALUES)})")


def _stats_misfit(images: torch.Tensor) -> str | None:
    """Why standardised ``images`` do not look like the dataset's pixels (None: they do)."""
    mean = images.mean((0, 2, 3))
    std = images.std((0, 2, 3)) if images.numel() > images.shape[1] else torch.ones_like(mean)
    for c, (m, s) in enumerate(zip(mean.tolist(), std.tolist(), strict=True)):
        if abs(m) > MEAN_LIMIT or not STD_LIMITS[0] <= s <= STD_LIMITS[1]:
            return f"channel {c} has mean {m:.2f} and std {s:.2f}"
    return None


def _check_statistics(raw: torch.Tensor, standardized: torch.Tensor, kind: str,
                      data: PreparedData, what: str) -> None:
    """Refuse values whose statistics, read as ``kind``, are far from the dataset's; name
    the reading of ``VALUES`` that fits, if one does."""
    misfit = _stats_misfit(standardized)
    if misfit is None:
        return
    fits = [v for v in VALUES if v not in (kind, "uint8") and _fits(raw, v, data)]
    hint = f"--values {fits[0]} fits" if fits else "no --values fits (ZCA-whitened sets do not)"
    raise InputError(f"{what} read as {kind}: {misfit} in the dataset's standardised space "
                     f"(accepted: |mean| <= {MEAN_LIMIT:g}, std {STD_LIMITS[0]:g}-"
                     f"{STD_LIMITS[1]:g}); {hint}")


def _fits(raw: torch.Tensor, kind: str, data: PreparedData) -> bool:
    if kind == "cifar10-standardized" and raw.shape[1] != 3:
        return False
    low, high = RANGES.get(kind, (-float("inf"), float("inf")))
    images = raw.float()
    if float(images.min()) < low or float(images.max()) > high:
        return False
    return _stats_misfit(standardize(images, kind, data.mean, data.std)) is None


def conform(found: SetFile, data: PreparedData, cfg: ImportConfig, source: Path
            ) -> tuple[ProxySet, list[str]]:
    """Check a read set against ``data`` and return it as a proxy set in the dataset's
    standardised space, with notices of what was adapted. ``info`` of the set records the
    provenance (format, source path and content hash, values, entry, rescaling).

    Raises:
        InputError: a class count or order, channel count, resolution (without
            ``cfg.rescale``), value range or statistics, or labels that do not fit ``data``.
    """
    what, notices = source.name, []
    labels = _hard_labels(found, data, cfg, what, notices)
    images = found.images
    if found.format == "npz" and images.dim() == 4 and images.shape[1] not in (1, 3) \
            and images.shape[-1] in (1, 3):
        images = images.permute(0, 3, 1, 2)  # channels-last, as numpy code often writes
    if images.dim() != 4:
        raise InputError(f"{what} has images of shape {tuple(images.shape)}; expected "
                         "(N, C, H, W)")
    n, channels, height, width = images.shape
    if channels != data.channels:
        raise InputError(f"{what} has {channels}-channel images, the dataset "
                         f"{data.channels}-channel ones")
    if height != width:
        raise InputError(f"{what} has {height}x{width} images; only square ones are taken")
    if height != data.im_size and not cfg.rescale:
        raise InputError(f"{what} has {height}x{width} images, the dataset "
                         f"{data.im_size}x{data.im_size}: pass --rescale to resize them, or "
                         f"use a dataset of that size (--resize {height})")
    kind = _value_kind(found, cfg, what)
    _check_range(images, kind, what)
    meta = found.meta or {}
    stats = (meta["mean"], meta["std"]) if meta.get("values") == "standardized" else None
    standardized = standardize(images, kind, data.mean, data.std, stats)
    _check_statistics(images, standardized, kind, data, what)
    if height != data.im_size:
        standardized = F.interpolate(standardized, size=(data.im_size, data.im_size),
                                     mode="bilinear", antialias=True, align_corners=False)
        notices.append(f"resized {height}x{width} -> {data.im_size}x{data.im_size} "
                       "(bilinear, antialiased)")
    counts = torch.bincount(labels, minlength=data.num_classes)
    if int(counts.min()) != int(counts.max()):
        notices.append(f"classes hold {int(counts.min())}-{int(counts.max())} images; "
                       f"recorded as IPC {round(n / data.num_classes)}")
    if found.entries > 1:
        notices.append(f"{what} holds {found.entries} sets; imported entry {cfg.entry} "
                       "(--entry picks another)")
    info = {"format": found.format, "source": str(source.resolve()),
            "source_hash": found.source_hash, "values": kind,
            **({"entry": cfg.entry} if found.format == "dc-result" else {}),
            **({"rescaled_from": height} if height != data.im_size else {}),
            **({"soft_labels": "argmax"} if found.labels.dim() == 2 else {})}
    return ProxySet(standardized.contiguous(), labels, info={"imported": info}), notices
