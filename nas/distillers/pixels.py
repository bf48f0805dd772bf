"""Pixel-space distillation (DM, DSA, DataDAM): one proxy set per IPC, stored as a proxy set
(not an artifact); ``nas search --proxy <method>`` then reuses it."""

from __future__ import annotations

from functools import partial

from nas import api
from nas.core.data import PreparedData
from nas.distillers.registry import register_distiller
from proxies.datadam import DataDAMConfig
from proxies.dm import DMConfig
from proxies.dsa import DSAMatchConfig
from storage import Database, DatasetRecord, ProxyRecord


def distill_pixels(method: str, db: Database, data: PreparedData, dataset: DatasetRecord,
                   config, *, seed: int = 0, progress: bool = True, ipc: int) -> ProxyRecord:
    """Distil (or find) the ``method`` set of ``ipc`` images per class with ``config``."""
    return api.build_proxy(db, data, dataset, method, ipc=ipc, seed=seed,
                           options=config.to_dict())


for _method, _config in (("dm", DMConfig), ("dsa", DSAMatchConfig), ("datadam", DataDAMConfig)):
    register_distiller(_method, _config, needs_ipc=True)(partial(distill_pixels, _method))
