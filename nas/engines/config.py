"""What one search is: the data source, the strategy and the training protocol."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from nas.api import ELF_NEEDS_PROXY
from nas.core.data import DataConfig
from nas.core.elf import ElfConfig
from nas.core.trainer import TrainConfig
from proxies import ProxyRequest


@dataclass(frozen=True)
class SearchConfig:
    """A search over one space on one data source; ``asdict`` of it is stored with the study."""

    space: str = "convnet720"
    proxy: str = "random"  # proxy method (see `nas proxy list`); "full" trains on the real split
    ipc: int = 50  # docs/reference.md#training-protocol: NAS proxies at IPC 50
    proxy_seed: int = 0
    artifact: str = ""  # d2m/d3: hash prefix of the artifact to sample from ("" = newest)
    strategy: str = "grid"  # see nas.engines.list_strategies()
    archs: tuple[str, ...] = ()  # grid points; empty = the whole space
    trials: int = 20  # budget of the sampling strategies (tpe, nni-*)
    seed: int = 0  # sampler seed and training seed of every architecture
    train: TrainConfig = field(default_factory=TrainConfig)
    prune: str | None = None  # "median" | "hyperband" on per-epoch validation accuracy
    study: str | None = None  # default: <space>/<proxy label>/<strategy>/seed<seed>
    heartbeat_seconds: int = 60  # Optuna heartbeat; silent for 2 beats = dead worker, re-queued
    elf: ElfConfig | None = None  # ELF: real-data features supervise candidates (nas.core.elf)

    def __post_init__(self) -> None:
        request = ProxyRequest(self.proxy, ipc=self.ipc, seed=self.proxy_seed,
                               artifact=self.artifact)
        if self.elf is not None and not request.spec.uses_ipc:
            raise ValueError(ELF_NEEDS_PROXY)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SearchJob:
    """Everything a worker process needs to join a search (picklable for spawned workers)."""

    db_url: str
    data: DataConfig
    search: SearchConfig
