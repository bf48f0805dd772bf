"""Python API for D3: distill once into a recorded artifact, then build proxy sets at any IPC.

``distill_d3(db, data, dataset, config)`` is what ``nas distill --method d3`` calls.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from nas import api
from nas.data import PreparedData
from nas.runtime import default_device, device_name, versions
from proxies.d3 import artifact as d3_artifact
from proxies.d3.distill import D3Config
from storage import Database, DatasetRecord, ProxyRecord, add_proxy, find_proxy

METHOD = "d3"  # the proxy sets
ARTIFACT = "d3-priors"  # the distilled priors + decoders they are sampled from


def _key(dataset: DatasetRecord, config: D3Config, seed: int) -> str:
    blob = json.dumps({"dataset": dataset.key, "method": ARTIFACT, "seed": seed,
                       "config": config.to_dict()}, sort_keys=True).encode()
    return hashlib.blake2b(blob, digest_size=12).hexdigest()


def distill_d3(db: Database, data: PreparedData, dataset: DatasetRecord, config: D3Config, *,
               seed: int = 0, progress: bool = True) -> ProxyRecord:
    """Distill ``data`` with D3 (or find the artifact already distilled with this config).

    The artifact lies at ``db.home/artifacts/d3/<content hash>.pt`` and is recorded as a proxy
    row of method ``d3-priors`` with ``ipc=None`` whose params hold the config and the stored
    size; ``build_proxy(..., "d3", ipc=N)`` then samples from the dataset's latest one.

    Returns:
        The artifact's proxy record (``artifact_hash`` names the file).
    Raises:
        ValueError: for a bad config (e.g. more subtasks than classes).
    """
    key = _key(dataset, config, seed)
    existing = find_proxy(db, key)
    if existing is not None and existing.artifact_path and Path(existing.artifact_path).is_file():
        return existing
    work_dir = db.home / "artifacts" / "d3" / "work" / key
    start = time.perf_counter()
    artifact = d3_artifact.distill(data, config, seed=seed, work_dir=work_dir,
                                   progress=progress)
    seconds = time.perf_counter() - start
    path, digest = d3_artifact.save(artifact, db.home / "artifacts" / "d3")
    shutil.rmtree(work_dir, ignore_errors=True)
    params = {"config": config.to_dict(), **d3_artifact.stored_size(artifact),
              "worker_pids": [g["pid"] for g in artifact["groups"]],
              "parent_pid": artifact["parent_pid"]}
    return add_proxy(db, key=key, dataset_id=dataset.id, method=ARTIFACT, ipc=None, seed=seed,
                     params=params, artifact_path=str(path), artifact_hash=digest,
                     build_seconds=seconds, device=device_name(default_device()),
                     versions=versions())


def build_d3_sets(db: Database, data: PreparedData, dataset: DatasetRecord,
                  artifact: ProxyRecord, ipcs: list[int], *, seed: int = 0
                  ) -> list[ProxyRecord]:
    """Sample one proxy set per IPC from ``artifact`` (no retraining) and record each; each
    row's params hold ``artifact`` (its hash) and the stored size (priors + decoders)."""
    return [api.build_proxy(db, data, dataset, METHOD, ipc=ipc, seed=seed,
                            options={"artifact": artifact.artifact_hash}) for ipc in ipcs]
