"""Stored generator artifacts: pre-train, import, distil, find.

Generators are rows of ``nas_proxies`` with method ``gan-generator`` (pre-trained or
imported) or ``d2m-generator`` (distilled) and no IPC; their files live content-addressed in
``db.home/artifacts/generators/<hash>.pt``. Work directories (checkpoints, sample grids) are
keyed by the job's configuration, so re-running an interrupted command resumes it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from nas.data import PreparedData
from nas.runtime import default_device, device_name, versions
from proxies.base import file_hash
from proxies.d2m.checkpoint import generator_file, load_generator
from proxies.d2m.distill import D2MConfig, distill
from proxies.d2m.generator import GeneratorConfig
from proxies.d2m.pretrain import PretrainConfig, pretrain
from storage import Database, DatasetRecord, ProxyRecord, add_proxy, find_proxy, list_proxies

PRETRAINED = "gan-generator"
DISTILLED = "d2m-generator"


def _digest(payload: dict) -> str:
    return hashlib.blake2b(json.dumps(payload, sort_keys=True).encode(),
                           digest_size=12).hexdigest()


def latest_artifact(db: Database, dataset: DatasetRecord, method: str) -> ProxyRecord:
    """The most recent stored artifact of ``method`` for ``dataset``.

    Raises:
        ValueError: none is stored (names the command that makes one).
    """
    rows = [p for p in list_proxies(db, dataset.id) if p.method == method]
    if not rows:
        command = ("nas pretrain" if method == PRETRAINED
                   else f"nas distill --method {method.split('-')[0]}")
        raise ValueError(f"no {method} stored for dataset {dataset.key}; run `{command}` first")
    return rows[-1]


def find_artifact(db: Database, dataset: DatasetRecord, method: str, digest: str
                  ) -> ProxyRecord:
    """The stored artifact of ``method`` whose content hash starts with ``digest``."""
    rows = [p for p in list_proxies(db, dataset.id)
            if p.method == method and (p.artifact_hash or "").startswith(digest)]
    if not rows:
        raise ValueError(f"no {method} with hash {digest!r} for dataset {dataset.key}; "
                         "see `nas proxy list`")
    return rows[-1]


def _store(db: Database, dataset: DatasetRecord, *, key: str, method: str, source: Path,
           seed: int, params: dict, seconds: float, device: str) -> ProxyRecord:
    digest = file_hash(source)
    target = generator_file(db.home / "artifacts", digest)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file():
        shutil.copyfile(source, target.with_suffix(".tmp"))
        target.with_suffix(".tmp").replace(target)
    return add_proxy(db, key=key, dataset_id=dataset.id, method=method, ipc=None, seed=seed,
                     params=params, artifact_path=str(target), artifact_hash=digest,
                     build_seconds=seconds, device=device, versions=versions())


def _check_shape(config: GeneratorConfig, data: PreparedData, source: str) -> None:
    if (config.num_classes, config.im_size, config.channels) != (
            data.num_classes, data.im_size, data.channels):
        raise ValueError(f"{source} makes {config.num_classes} classes of {config.channels}x"
                         f"{config.im_size}^2 images; the dataset has {data.num_classes} of "
                         f"{data.channels}x{data.im_size}^2")


def pretrain_generator(db: Database, data: PreparedData, dataset: DatasetRecord, *,
                       width: int, config: PretrainConfig, seed: int = 0,
                       progress: bool = True) -> ProxyRecord:
    """Pre-train (or resume, or find) a conditional GAN on the dataset's training split."""
    gen_config = GeneratorConfig(num_classes=data.num_classes, im_size=data.im_size,
                                 channels=data.channels, width=width)
    params = {"generator": gen_config.to_dict(), "pretrain": config.to_dict()}
    key = _digest({"dataset": dataset.key, "method": PRETRAINED, "seed": seed, **params})
    existing = find_proxy(db, key)
    if existing is not None:
        return existing
    device = default_device()
    result = pretrain(data.train_images, data.train_labels, gen_config, config, seed=seed,
                      workdir=db.home / "artifacts" / "work" / f"pretrain-{key}", device=device,
                      progress=progress, meta={"dataset": dataset.key})
    return _store(db, dataset, key=key, method=PRETRAINED, source=result.generator_path,
                  seed=seed, params={**params, "workdir": str(result.generator_path.parent)},
                  seconds=result.wall_seconds, device=device_name(device))


def import_generator(db: Database, data: PreparedData, dataset: DatasetRecord,
                     path: Path) -> ProxyRecord:
    """Store a user-supplied generator file (checked to load and fit the dataset)."""
    generator = load_generator(path)
    _check_shape(generator.config, data, str(path))
    digest = file_hash(path)
    key = _digest({"dataset": dataset.key, "method": PRETRAINED, "imported": digest})
    existing = find_proxy(db, key)
    if existing is not None:
        return existing
    return _store(db, dataset, key=key, method=PRETRAINED, source=path, seed=0,
                  params={"generator": generator.config.to_dict(), "imported_from": str(path)},
                  seconds=0.0, device="imported")


def distill_generator(db: Database, data: PreparedData, dataset: DatasetRecord, *,
                      config: D2MConfig, seed: int = 0, base: str | None = None,
                      progress: bool = True) -> ProxyRecord:
    """D2M-distil a stored pre-trained generator (hash prefix ``base``, default the latest)."""
    parent = (find_artifact(db, dataset, PRETRAINED, base) if base
              else latest_artifact(db, dataset, PRETRAINED))
    params = {"d2m": config.to_dict(), "base": parent.artifact_hash}
    key = _digest({"dataset": dataset.key, "method": DISTILLED, "seed": seed, **params})
    existing = find_proxy(db, key)
    if existing is not None:
        return existing
    device = default_device()
    result = distill(data, Path(parent.artifact_path), config, seed=seed,
                     workdir=db.home / "artifacts" / "work" / f"d2m-{key}", device=device,
                     progress=progress, meta={"dataset": dataset.key})
    return _store(db, dataset, key=key, method=DISTILLED, source=result.generator_path,
                  seed=seed, params={**params, "iterations": result.iterations,
                                     "mean_loss": result.mean_loss},
                  seconds=result.wall_seconds, device=device_name(device))
