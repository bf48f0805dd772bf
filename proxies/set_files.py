"""Distilled sets as files in the layouts other code writes them in: detect, read, write.

Layouts (``FORMATS``):

- ``dc-result``: a torch file ``{"data": [[images, labels], ...], ...}``, as the
  dataset-condensation code saves its results (``res_*.pt``); one entry per experiment.
- ``tensor-pair``: two torch files ``images_X.pt`` and ``labels_X.pt`` (trajectory-matching
  code saves ``images_best.pt`` and ``labels_best.pt``); the path names either or their folder.
- ``npz``: a numpy archive with arrays ``images`` and ``labels``.
- ``image-folder``: one folder per class (named after it) of image files.

Files written here also record what their values are (``META``): the dc-result dict under
the key ``nas_proxy``, the npz archive as extra arrays; other readers ignore both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from nas.core.data import DataError
from nas.core.data.loaders import hash_files
from nas.errors import InputError

FORMATS = ("dc-result", "tensor-pair", "npz", "image-folder")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
META = "nas_proxy"  # dc-result key of what the file's values are, its class names
PAIR_DEFAULT = "best"  # the X of images_X.pt / labels_X.pt in a folder
LAYOUTS_HELP = ("expected a dataset-condensation res_*.pt, images_*.pt + labels_*.pt, an .npz "
                "with 'images' and 'labels', or a folder per class of images")
# numpy scalars inside a dataset-condensation result (its accuracies); older numpy pickles
# them under numpy.core, numpy 2 under numpy._core
_NUMPY_SCALAR = np.dtype("float64").type(0).__reduce__()[0]
_TORCH_SAFE = [np.dtype, _NUMPY_SCALAR, (_NUMPY_SCALAR, "numpy.core.multiarray.scalar"),
               *(type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool"))]


@dataclass(frozen=True)
class SetFile:
    """A set as read from a file, before any check against a dataset.

    images: (N, C, H, W) in the file's dtype and values; labels: integer (N,) or float (N, K)
    soft labels; ``class_names``: the file's names of label 0, 1, ... (None: not given);
    ``meta``: what a file written by ``write_set`` says of its values (``values``, ``mean``,
    ``std``); ``entries``: sets in the file (a dc-result holds one per experiment).
    """

    images: torch.Tensor
    labels: torch.Tensor
    format: str
    source_hash: str
    class_names: tuple[str, ...] | None = None
    meta: dict | None = None
    entries: int = 1


def _pair_paths(path: Path) -> tuple[Path, Path] | None:
    """(images, labels) files of a tensor pair that ``path`` names, or None."""
    if path.is_dir():
        path = path / f"images_{PAIR_DEFAULT}.pt"
    for own, other in (("images_", "labels_"), ("labels_", "images_")):
        if path.name.startswith(own) and path.suffix == ".pt":
            partner = path.with_name(other + path.name.removeprefix(own))
            if path.is_file() and partner.is_file():
                return (path, partner) if own == "images_" else (partner, path)
    return None


def _class_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*")
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def detect_format(path: Path) -> str:
    """The layout of ``path``.

    Raises:
        DataError: ``path`` does not exist, or is in none of the layouts.
    """
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if _pair_paths(path) is not None:
        return "tensor-pair"
    if path.is_dir():
        if _class_files(path):
            return "image-folder"
    elif path.suffix == ".npz":
        return "npz"
    elif path.suffix in (".pt", ".pth"):
        return "dc-result"
    raise DataError(f"unknown layout of {path}; {LAYOUTS_HELP}")


def _torch_load(path: Path) -> object:
    """A torch file's tensors and plain values (never code: ``weights_only``)."""
    try:
        with torch.serialization.safe_globals(_TORCH_SAFE):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a torch file, or holding code
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0]
        if reason.startswith("Weights only load failed"):  # torch's advice is to trust it
            reason = "it holds no torch.save data of tensors and plain values"
        raise DataError(f"cannot read {path} as a torch file: {reason}") from None


def _read_dc(path: Path, entry: int) -> SetFile:
    blob = _torch_load(path)
    data = blob.get("data") if isinstance(blob, dict) else None
    if not isinstance(data, list) or not data:
        raise DataError(f"unknown layout of {path}: a torch file without a dataset-condensation "
                        f"'data' list; {LAYOUTS_HELP}")
    if not 0 <= entry < len(data):
        raise InputError(f"--entry {entry}: {path.name} holds {len(data)} set(s), 0.."
                         f"{len(data) - 1}")
    pair = data[entry]
    if not (isinstance(pair, list | tuple) and len(pair) == 2
            and all(isinstance(t, torch.Tensor) for t in pair)):
        raise DataError(f"unknown layout of {path}: data[{entry}] is not [images, labels]")
    meta = blob.get(META)
    return SetFile(pair[0], pair[1], "dc-result", hash_files(path.parent, [path]),
                   class_names=tuple(meta["class_names"]) if meta else None, meta=meta,
                   entries=len(data))


def _read_pair(path: Path) -> SetFile:
    images_path, labels_path = _pair_paths(path)  # type: ignore[misc]
    images, labels = _torch_load(images_path), _torch_load(labels_path)
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise DataError(f"unknown layout of {path}: {images_path.name} and {labels_path.name} "
                        "must each hold one tensor")
    return SetFile(images, labels, "tensor-pair",
                   hash_files(images_path.parent, [images_path, labels_path]))


def _read_npz(path: Path) -> SetFile:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot read {path} as an .npz archive: {reason}") from None
    missing = sorted({"images", "labels"} - set(arrays))
    if missing:
        raise DataError(f"unknown layout of {path}: no array(s) {missing} (it has "
                        f"{sorted(arrays)}); {LAYOUTS_HELP}")
    meta = ({"values": str(arrays["values"]), "mean": arrays["mean"].tolist(),
             "std": arrays["std"].tolist()} if "values" in arrays else None)
    names = tuple(map(str, arrays["class_names"])) if "class_names" in arrays else None
    return SetFile(torch.from_numpy(arrays["images"]), torch.from_numpy(arrays["labels"]),
                   "npz", hash_files(path.parent, [path]), class_names=names, meta=meta)


def _decode(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("L") if img.mode in ("L", "1", "I;16")
                              else img.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


def _read_folder(path: Path) -> SetFile:
    files = _class_files(path)
    names = tuple(sorted({p.parent.name for p in files}))
    arrays = [_decode(p) for p in files]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise InputError(f"images under {path} differ in shape {sorted(shapes)[:3]}; resize "
                         "them to one size first")
    stacked = np.stack(arrays)
    stacked = stacked[:, None] if stacked.ndim == 3 else stacked.transpose(0, 3, 1, 2)
    labels = torch.tensor([names.index(p.parent.name) for p in files], dtype=torch.int64)
    return SetFile(torch.from_numpy(np.ascontiguousarray(stacked)), labels, "image-folder",
                   hash_files(path, files), class_names=names)


def read_set(path: Path, *, entry: int = 0) -> SetFile:
    """Read the set in ``path`` (any of ``FORMATS``); ``entry``: which set of a dc-result.

    Raises:
        DataError: missing, unreadable, or in no known layout.
        InputError: ``entry`` out of range; images of one folder differ in size.
    """
    path = Path(path).expanduser()
    fmt = detect_format(path)
    if fmt == "dc-result":
        return _read_dc(path, entry)
    if fmt == "tensor-pair":
        return _read_pair(path)
    if fmt == "npz":
        return _read_npz(path)
    return _read_folder(path)


def format_of_path(path: Path) -> str:
    """The layout a path to write names: ``images_*.pt`` a tensor pair, other ``.pt`` a
    dc-result, ``.npz`` an archive, a name without a suffix an image folder."""
    if path.suffix in (".pt", ".pth"):
        return "tensor-pair" if path.name.startswith("images_") else "dc-result"
    if path.suffix == ".npz":
        return "npz"
    if not path.suffix:
        return "image-folder"
    raise InputError(f"cannot tell a layout from {path.name!r}; name a .pt, images_*.pt, .npz "
                     "or a folder, or pass --format")


def write_set(path: Path, fmt: str, images: torch.Tensor, labels: torch.Tensor, *,
              class_names: tuple[str, ...], meta: dict) -> list[Path]:
    """Write a set in layout ``fmt``; images already hold the file's values (uint8 for an
    image folder). ``meta``: what the values are, recorded where the layout has room.
    Returns the paths written."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "dc-result":
        torch.save({"data": [[images, labels]], "accs_all_exps": {},
                    META: {**meta, "class_names": list(class_names)}}, path)
        return [path]
    if fmt == "tensor-pair":
        stem = path.name.removeprefix("images_") if path.name.startswith("images_") \
            else f"{PAIR_DEFAULT}.pt"
        folder = path.parent if path.suffix else path
        folder.mkdir(parents=True, exist_ok=True)
        written = [folder / f"images_{stem}", folder / f"labels_{stem}"]
        torch.save(images, written[0])
        torch.save(labels, written[1])
        return written
    if fmt == "npz":
        np.savez(path, images=images.numpy(), labels=labels.numpy(),
                 class_names=np.array(class_names), values=np.array(meta["values"]),
                 mean=np.array(meta["mean"]), std=np.array(meta["std"]))
        return [path]
    if images.dtype != torch.uint8:
        raise InputError("an image folder holds 8-bit pixels; convert the set to uint8 first")
    written = []
    pixels = images.permute(0, 2, 3, 1).numpy()
    for i, (img, label) in enumerate(zip(pixels, labels.tolist(), strict=True)):
        target = path / class_names[label] / f"{i:06d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(target)
        written.append(target)
    return written
