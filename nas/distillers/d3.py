"""D3 distillation into a recorded artifact (latent priors + decoder); proxy sets of any IPC
are then sampled from it by the ``d3`` proxy without retraining."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from nas.core.data import PreparedData
from nas.core.runtime import default_device, device_name
from nas.distillers.registry import register_distiller
from nas.distillers.store import job_key, record_artifact
from proxies.artifacts import D3_PRIORS
from proxies.d3 import artifact as d3_artifact
from proxies.d3.distill import D3Config
from storage import Database, DatasetRecord, ProxyRecord, find_proxy


@register_distiller("d3", D3Config, kind=D3_PRIORS)
def distill_d3(db: Database, data: PreparedData, dataset: DatasetRecord, config: D3Config, *,
               seed: int = 0, progress: bool = True) -> ProxyRecord:
    """Distill ``data`` with D3 (or find the artifact already distilled with this config).

    The artifact lies at ``db.home/artifacts/d3/<content hash>.pt`` and is recorded as a row
    of kind ``d3-priors`` with ``ipc=None`` whose params hold the config and the stored size;
    ``build_proxy(..., "d3", ipc=N)`` then samples from it.

    Raises:
        InputError: for a bad config (e.g. more subtasks than classes).
    """
    key = job_key({"dataset": dataset.key, "method": D3_PRIORS, "seed": seed,
                   "config": config.to_dict()})
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
    return record_artifact(db, dataset, path, digest, key=key, kind=D3_PRIORS, seed=seed,
                           params=params, seconds=seconds,
                           device=device_name(default_device()))
