"""What one search is: the data source, the strategy and the training protocol."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from nas.analysis.curves import CURVE_SCORES
from nas.api import ELF_NEEDS_PROXY
from nas.core.data import DataConfig, PreparedData
from nas.core.elf import ElfConfig
from nas.core.trainer import TrainConfig
from nas.engines.fidelity_names import check_fidelity
from nas.errors import InputError
from proxies import ProxyRequest
from search_spaces import get_space


@dataclass(frozen=True)
class SearchConfig:
    """A search over one space on one data source; ``asdict`` of it is stored with the study."""

    space: str = "convnet720"
    proxy: str = "random"  # proxy method (see `nas proxy list`); "full" trains on the real split
    ipc: int = 50  # docs/papers.md#training-protocol: NAS proxies at IPC 50
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
    score: str = "final-val"  # trial value read from each run (nas.analysis.curves)
    # rea and sh (nas.engines.evolution); fidelity names in nas.engines.fidelity
    rea_score: str = "train"  # what rea maximises
    fidelities: tuple[str, ...] = ("ensemble", "train")  # sh's rungs, cheapest first
    population: int = 10  # rea's P; 10 as NAS-Bench-201's REA baseline (docs)
    sample: int = 3  # rea's tournament size S; 3 as NAS-Bench-201's REA baseline (docs)
    bracket: int = 27  # sh: architectures in a bracket's first rung
    eta: int = 3  # sh: 1/eta of a rung is promoted (Jamieson & Talwalkar 2016 use 2-3)
    cpu_budget: float = 0.0  # rea/sh: stop once finished trials were charged this many
    # seconds (0: no limit; --trials still applies)
    train_seed: int | None = None  # training seed of rea/sh measurements (None: seed), so
    # searches with different seeds can share runs

    @property
    def training_seed(self) -> int:
        return self.seed if self.train_seed is None else self.train_seed

    def __post_init__(self) -> None:
        """Validate every value that needs no data (raises InputError, UnknownNameError)."""
        request = self.proxy_request
        if self.score not in CURVE_SCORES:
            raise InputError(f"unknown --score {self.score!r}; choose from {list(CURVE_SCORES)}")
        if self.elf is not None and not request.spec.uses_ipc:
            raise InputError(ELF_NEEDS_PROXY)
        if self.trials < 1:
            raise InputError(f"--trials must be at least 1, got {self.trials}")
        if self.seed < 0:
            raise InputError(f"--seed must be >= 0, got {self.seed}")
        if self.heartbeat_seconds < 1:
            raise InputError(f"--heartbeat must be at least 1 second, got "
                             f"{self.heartbeat_seconds}")
        for name in (self.rea_score, *self.fidelities):
            check_fidelity(name)
        if not self.fidelities:
            raise InputError("--fidelities needs at least one score")
        if self.population < 1 or not 1 <= self.sample <= self.population:
            raise InputError(f"--population must be >= 1 and --sample in 1..population, got "
                             f"{self.population} and {self.sample}")
        if self.bracket < 1 or self.eta < 2:
            raise InputError(f"--bracket must be >= 1 and --eta >= 2, got {self.bracket} and "
                             f"{self.eta}")
        if self.cpu_budget < 0 or (self.train_seed is not None and self.train_seed < 0):
            raise InputError(f"--cpu-budget and --train-seed must be >= 0, got "
                             f"{self.cpu_budget} and {self.train_seed}")
        if self.prune is not None and self.train.report_every < 1:
            raise InputError(f"--prune needs --report-every of at least 1 epoch, got "
                             f"{self.train.report_every}")

    @property
    def proxy_request(self) -> ProxyRequest:
        return ProxyRequest(self.proxy, ipc=self.ipc, seed=self.proxy_seed,
                            artifact=self.artifact)

    def check_data(self, data: PreparedData) -> None:
        """Validate what needs the loaded data (before the database is opened): an IPC the
        classes can fill, and every candidate architecture runs on the image size."""
        self.proxy_request.check_data(data)
        space = get_space(self.space)
        for spec in [space.parse(a) for a in self.archs] or space.enumerate():
            space.check_input_size(spec, data.im_size)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SearchJob:
    """Everything a worker process needs to join a search (picklable for spawned workers)."""

    db_url: str
    data: DataConfig
    search: SearchConfig
