"""DM distillation: one pixel-space proxy set per IPC (stored as a proxy set, not an
artifact; ``nas search --proxy dm`` reuses it)."""

from __future__ import annotations

from nas import api
from nas.core.data import PreparedData
from nas.distillers.registry import register_distiller
from proxies.dm import DMConfig
from storage import Database, DatasetRecord, ProxyRecord


@register_distiller("dm", DMConfig, needs_ipc=True)
def distill_dm(db: Database, data: PreparedData, dataset: DatasetRecord, config: DMConfig, *,
               seed: int = 0, progress: bool = True, ipc: int) -> ProxyRecord:
    """Distil (or find) the DM set of ``ipc`` images per class."""
    return api.build_proxy(db, data, dataset, "dm", ipc=ipc, seed=seed,
                           options=config.to_dict())
