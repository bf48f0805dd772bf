"""Storing distilled artifacts: content-addressed files plus their proxy-table rows."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from nas.core.runtime import versions
from proxies.base import file_hash
from storage import Database, DatasetRecord, ProxyRecord, add_proxy


def job_key(payload: dict) -> str:
    """The key of a distillation job: a digest of everything that determines its result."""
    return hashlib.blake2b(json.dumps(payload, sort_keys=True).encode(),
                           digest_size=12).hexdigest()


def copy_in(source: Path, directory: Path) -> tuple[Path, str]:
    """Copy ``source`` to ``directory/<content hash>.pt`` (atomically, once); (path, hash)."""
    digest = file_hash(source)
    target = directory / f"{digest}.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file():
        shutil.copyfile(source, target.with_suffix(".tmp"))
        target.with_suffix(".tmp").replace(target)
    return target, digest


def record_artifact(db: Database, dataset: DatasetRecord, path: Path, digest: str, *, key: str,
                    kind: str, seed: int, params: dict, seconds: float, device: str
                    ) -> ProxyRecord:
    """Record a stored artifact file as a proxy-table row without an IPC."""
    return add_proxy(db, key=key, dataset_id=dataset.id, method=kind, ipc=None, seed=seed,
                     params=params, artifact_path=str(path), artifact_hash=digest,
                     build_seconds=seconds, device=device, versions=versions())
