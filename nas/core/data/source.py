"""Where the data comes from: flag, environment, the shared copy, or a verified download."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.request
from pathlib import Path

from nas.core.data.loaders import DataError, default_cache_dir

DATA_ENV = "NAS_DATA"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"  # published checksum of the archive
_REPO_ROOT = Path(__file__).resolve().parents[3]  # nas/core/data/source.py -> the checkout


def portable_path(path: str | Path) -> str:
    """``path`` as results and reports record it, the same on every machine: relative to the
    repository when it lies in the checkout or beside it (``../shared/data/cifar10``), else
    only its name (the dataset's content hash identifies it anyway)."""
    resolved = Path(path).expanduser().resolve()
    if resolved.is_relative_to(_REPO_ROOT.parent):
        return os.path.relpath(resolved, _REPO_ROOT)
    return resolved.name


def shared_cifar10_candidates() -> list[Path]:
    """The shared copy beside the checkout (these machines and CI), from cwd or the repo."""
    return [Path.cwd().parent / "shared/data/cifar10", _REPO_ROOT.parent / "shared/data/cifar10"]


def download_cifar10(cache_dir: Path | None = None, *, url: str = CIFAR10_URL,
                     md5: str = CIFAR10_MD5) -> Path:
    """Fetch and unpack CIFAR-10's python archive into the cache, verifying its MD5.

    Returns the ``cifar-10-batches-py`` directory. Raises DataError on a checksum mismatch
    (the partial download is removed).
    """
    root = (cache_dir or default_cache_dir()) / "downloads"
    target = root / "cifar-10-batches-py"
    if (target / "data_batch_1").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    archive = root / "cifar-10-python.tar.gz"
    partial = archive.with_suffix(".part")
    try:
        with urllib.request.urlopen(url) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DataError(f"could not download CIFAR-10 from {url}: {exc}; pass --data DIR or "
                        f"set {DATA_ENV} to a local copy") from exc
    digest = hashlib.md5(partial.read_bytes()).hexdigest()
    if digest != md5:
        partial.unlink()
        raise DataError(f"checksum mismatch for {url}: got md5 {digest}, expected {md5}")
    partial.replace(archive)
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    if not (target / "data_batch_1").is_file():
        raise DataError(f"{archive} did not contain cifar-10-batches-py/")
    return target


def resolve_data_path(flag: str | None = None) -> Path:
    """--data flag, then $NAS_DATA, then ../shared/data/cifar10, else download CIFAR-10."""
    if flag:
        return Path(flag).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    for candidate in shared_cifar10_candidates():
        if (candidate / "train").is_dir():
            return candidate.resolve()
    return download_cifar10()
