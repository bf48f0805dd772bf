"""Readers for CIFAR python batches, image-folder trees and MNIST-family idx files.

Each reader returns uint8 tensors (N, C, H, W) and int64 labels; ``load_raw`` detects the
format, hashes the source's bytes and caches the decoded tensors under that hash.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import os
import pickle
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from nas.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
EXPECTED_LAYOUTS = (
    "expected one of: CIFAR python batches (data_batch_1..5, test_batch, batches.meta), "
    "an image-folder tree (train/<class>/*.png|jpg and test/<class>/*.png|jpg), or "
    "MNIST-family idx files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, optionally .gz)"
)
CACHE_FORMAT = 1  # bump when the cached tensors' layout changes


class DataError(UserError, RuntimeError):
    """A dataset is missing or unreadable; the message names the path and expected layout."""


@dataclass(frozen=True)
class RawDataset:
    """Decoded dataset: uint8 images (N, C, H, W), int64 labels, class names, content hash."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    class_names: tuple[str, ...]
    content_hash: str
    format: str


def _cifar_dir(root: Path) -> Path | None:
    for candidate in (root, root / "cifar-10-batches-py"):
        if (candidate / "data_batch_1").is_file():
            return candidate
    return None


def _idx_file(root: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")  # some mirrors name them train-images.idx3-ubyte
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


_IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def detect_format(root: Path) -> tuple[str, list[Path]]:
    """Return the source format and the files whose bytes define its content."""
    if not root.exists():
        raise DataError(f"dataset path {root} does not exist; {EXPECTED_LAYOUTS}")
    cifar = _cifar_dir(root)
    if cifar is not None:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
        files = [cifar / n for n in names if (cifar / n).is_file()]
        if len(files) != len(names):
            raise DataError(f"{cifar} has incomplete CIFAR batches; {EXPECTED_LAYOUTS}")
        return "cifar-batches", files
    idx = [_idx_file(root, stem) for stem in _IDX_STEMS]
    if all(idx):
        return "idx", idx  # type: ignore[return-value]
    if (root / "train").is_dir():
        files = sorted(
            p for p in root.glob("*/*/*")
            if p.parent.parent.name in ("train", "test") and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if files:
            return "image-folder", files
    raise DataError(f"no dataset found at {root}; {EXPECTED_LAYOUTS}")


def hash_files(root: Path, files: list[Path]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


# The only globals a CIFAR batch refers to (written by Python 2 or 3, numpy 1 or 2):
# array reconstruction and the codec Python 3 uses for bytes in protocol-2 pickles.
_CIFAR_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles containers, bytes, numbers and numpy arrays only. Any other global (such as
    a function a crafted file would call) is refused, so loading a batch cannot run code."""

    def find_class(self, module: str, name: str):
        try:
            return _CIFAR_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (a CIFAR batch "
                                         "holds only numpy arrays and lists)") from None


def _read_cifar(files: list[Path]) -> tuple:
    def unpickle(path: Path) -> dict:
        try:
            with open(path, "rb") as f:
                return _ArrayUnpickler(f, encoding="bytes").load()
        except Exception as exc:  # pickle raises many types on corrupt input
            raise DataError(f"corrupt CIFAR batch {path}: {exc}; {EXPECTED_LAYOUTS}") from exc

    def images(batches: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
        data = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32)
        labels = np.concatenate([np.asarray(b[b"labels"], dtype=np.int64) for b in batches])
        return torch.from_numpy(data.copy()), torch.from_numpy(labels)

    by_name = {p.name: p for p in files}
    train = images([unpickle(by_name[f"data_batch_{i}"]) for i in range(1, 6)])
    test = images([unpickle(by_name["test_batch"])])
    meta = unpickle(by_name["batches.meta"])
    names = tuple(n.decode() for n in meta[b"label_names"])
    return train, test, names


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
        if zero != 0 or dtype_code != 0x08:
            raise ValueError(f"magic {raw[:4].hex()} is not an unsigned-byte idx file")
        shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
        return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
    except (OSError, ValueError, struct.error, EOFError) as exc:
        raise DataError(f"corrupt idx file {path}: {exc}; {EXPECTED_LAYOUTS}") from exc


def _read_idx_set(files: list[Path]) -> tuple:
    arrays = [_read_idx(p) for p in files]

    def pair(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.from_numpy(images.copy()).unsqueeze(1),
                torch.from_numpy(labels.astype(np.int64)))

    names = tuple(map(str, range(int(arrays[1].max()) + 1)))
    return pair(arrays[0], arrays[1]), pair(arrays[2], arrays[3]), names


def _decode_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("L") if img.mode in ("L", "1", "I;16") else img.convert("RGB")
            return np.asarray(img)
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"corrupt image {path}: {exc}") from exc


def _read_image_folder(root: Path, files: list[Path]) -> tuple:
    class_names = tuple(sorted({p.parent.name for p in files if p.parent.parent.name == "train"}))
    index = {name: i for i, name in enumerate(class_names)}
    with ThreadPoolExecutor() as pool:  # PIL releases the GIL while decoding
        arrays = list(tqdm(pool.map(_decode_image, files), total=len(files), unit="img",
                           desc=f"decode {root.name}", mininterval=1.0))
    if any(a.ndim == 3 for a in arrays):  # mixed grey/colour folders become RGB
        arrays = [np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a for a in arrays]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise DataError(f"images under {root} differ in size {sorted(shapes)[:3]}; "
                        "resize them to one size first")

    def stack(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        chosen = [(a, p) for a, p in zip(arrays, files, strict=True)
                  if p.parent.parent.name == split]
        unknown = {p.parent.name for _, p in chosen} - set(index)
        if unknown:
            raise DataError(f"{root}/{split} has classes {sorted(unknown)} not in train/")
        if not chosen:
            raise DataError(f"{root}/{split} has no images; {EXPECTED_LAYOUTS}")
        data = np.stack([a for a, _ in chosen])
        data = data[:, None] if data.ndim == 3 else data.transpose(0, 3, 1, 2)
        labels = torch.tensor([index[p.parent.name] for _, p in chosen], dtype=torch.int64)
        return torch.from_numpy(np.ascontiguousarray(data)), labels

    return stack("train"), stack("test"), class_names


def default_cache_dir() -> Path:
    base = os.environ.get("NAS_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nas-proxy"
    return Path(base)


def load_raw(root: str | Path, *, cache_dir: Path | None = None) -> RawDataset:
    """Decode a dataset directory (any supported layout), using the content-keyed cache.

    Raises:
        DataError: the path is missing, holds no known layout, or a file is corrupt.
    """
    root = Path(root).expanduser().resolve()
    fmt, files = detect_format(root)
    content_hash = hash_files(root, files)
    name = f"{fmt}-{content_hash}-v{CACHE_FORMAT}.pt"
    cache = (cache_dir or default_cache_dir()) / "datasets" / name
    if cache.is_file():
        try:  # weights_only: tensors and plain values, never code a crafted file would run
            return RawDataset(**torch.load(cache, weights_only=True))
        except Exception:  # a truncated, foreign or crafted cache file is rebuilt below
            cache.unlink(missing_ok=True)
    if fmt == "cifar-batches":
        train, test, names = _read_cifar(files)
    elif fmt == "idx":
        train, test, names = _read_idx_set(files)
    else:
        train, test, names = _read_image_folder(root, files)
    if len(train[0]) != len(train[1]) or len(test[0]) != len(test[1]):
        raise DataError(f"{root}: image and label counts differ; {EXPECTED_LAYOUTS}")
    raw = RawDataset(train[0], train[1], test[0], test[1], names, content_hash, fmt)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")  # processes decoding at once don't collide
    torch.save(raw.__dict__, tmp)
    tmp.replace(cache)
    return raw
