"""Frozen records returned by the storage layer (never ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class DatasetRecord:
    id: int
    key: str
    source_path: str
    config: dict
    summary: dict


@dataclass(frozen=True)
class ProxyRecord:
    id: int
    key: str
    dataset_id: int
    method: str
    ipc: int | None
    seed: int
    params: dict
    artifact_path: str | None
    artifact_hash: str | None
    build_seconds: float
    device: str
    created_at: datetime | None = None

    @property
    def label(self) -> str:
        return self.method if self.ipc is None else f"{self.method}-ipc{self.ipc}"


@dataclass(frozen=True)
class RunRecord:
    key: str
    space: str
    arch_id: str
    dataset_id: int
    proxy_id: int | None
    seed: int
    epochs: int
    config: dict
    status: str
    val_acc: float | None
    test_acc: float | None
    train_loss: float | None
    num_params: int
    macs: int  # multiply-accumulates of one forward pass of one image
    wall_seconds: float
    device: str
    versions: dict
    search_id: int | None = None
    # learning curve: {"train_loss": [per epoch], "val_acc": [[epoch, acc], ...]}; None for
    # runs stored before curves were kept and for published accuracies
    curve: dict | None = None
