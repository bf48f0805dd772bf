"""The fidelity report as frozen dataclasses, and its JSON layout (``report.json``).

``Report.to_json`` writes, and ``Report.from_json`` reads, the layout every stored report
has (benchmarks/results/cpu-full.json and the others): the same keys in the same order, NaN
as null, pairs as lists. Metric blocks (``metrics.fidelity``'s dicts) stay dicts, read by
key as ``nas.analysis.metrics`` defines them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

_ROW_KEYS = ("name", "kind", "metrics", "costs", "architectures", "metrics_test")


def to_jsonable(value):
    """Replace NaN/inf by None (JSON has no NaN) and tuples by lists, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class ArchScore:
    """One architecture of a row: the source's score and the ground truth, with the seconds
    each cost per architecture (None where a re-scored table kept no times)."""

    arch_id: str
    score: float | None  # None: undefined (stored NaN)
    truth: float
    seconds: float | None = None
    truth_seconds: float | None = None


@dataclass(frozen=True)
class SourceRow:
    """One source (a proxy, a learning-curve score of one, or a zero-cost baseline) against
    the ground truth."""

    name: str
    kind: str  # "proxy" or "zero-cost"
    metrics: dict  # ``metrics.fidelity`` of the scores, with "within_top" when computed
    costs: dict  # ``asdict(metrics.costs(...))``
    architectures: tuple[ArchScore, ...]
    # what the source is, in stored order: method, ipc, options, protocol, diverged, ...
    # (a proxy), undefined and protocol (a zero-cost score), members (an ensemble)
    details: dict = field(default_factory=dict)
    metrics_test: dict | None = None  # proxies: the trained networks' test accuracy vs truth

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, **self.details, "metrics": self.metrics,
                "costs": self.costs, "architectures": [asdict(a) for a in self.architectures],
                **({"metrics_test": self.metrics_test} if self.metrics_test is not None
                   else {})}

    @classmethod
    def from_dict(cls, stored: dict) -> SourceRow:
        return cls(name=stored["name"], kind=stored["kind"], metrics=stored["metrics"],
                   costs=stored["costs"],
                   architectures=tuple(ArchScore(**a) for a in stored["architectures"]),
                   details={k: v for k, v in stored.items() if k not in _ROW_KEYS},
                   metrics_test=stored.get("metrics_test"))


@dataclass(frozen=True)
class GroundTruth:
    """The full-data runs every row is compared with."""

    metric: str  # "test_acc" or "val_acc"
    epochs: int | None  # None: published, not trained here
    diverged: int
    protocol: dict  # train config, seeds, runs, devices, sources (and "published")
    best: float
    total_seconds: float


@dataclass(frozen=True)
class WithinTop:
    """What the within-top metrics of every row used."""

    truth_fraction: float
    prefilter: str | None  # the prefilter row's name; None: no such row in the report
    prefilter_k: int | None  # None: the same fraction of the architectures


@dataclass(frozen=True)
class PairedDifference:
    """Spearman(a) - Spearman(b) vs the truth on the architectures both rows scored, with
    its paired bootstrap 95% interval; ``verdict``: "a" or "b" when the interval excludes
    zero, else "none"."""

    a: str
    b: str
    n: int
    rho_a: float | None
    rho_b: float | None
    difference: float | None
    ci: tuple[float | None, float | None]
    resamples_used: int
    verdict: str

    @classmethod
    def from_dict(cls, stored: dict) -> PairedDifference:
        return cls(**{**stored, "ci": tuple(stored["ci"])})


@dataclass(frozen=True)
class Report:
    """What ``nas.analysis.report.build_report`` returns and ``report.json`` stores."""

    title: str
    created_at: str  # ISO 8601, UTC
    dataset: dict  # key, config, summary
    space: str
    architectures: tuple[str, ...]  # every architecture with ground truth, sorted
    ground_truth: GroundTruth
    scoring: dict  # how each number was computed, in words, and the bootstrap settings
    rows: tuple[SourceRow, ...]
    within_top: WithinTop | None  # None: stored before within-top metrics existed
    pairwise: tuple[PairedDifference, ...]
    environment: dict  # versions (and machine)
    preset: dict | None = None  # the benchmark preset, stated verbatim; None: not a preset

    def to_dict(self) -> dict:
        """JSON-ready (``to_jsonable``); ``within_top`` and ``preset`` left out when None."""
        out = {"title": self.title, "created_at": self.created_at, "dataset": self.dataset,
               "space": self.space, "architectures": list(self.architectures),
               "ground_truth": asdict(self.ground_truth), "scoring": self.scoring,
               "rows": [r.to_dict() for r in self.rows],
               **({"within_top": asdict(self.within_top)} if self.within_top else {}),
               "pairwise": [asdict(p) for p in self.pairwise],
               "environment": self.environment,
               **({"preset": self.preset} if self.preset is not None else {})}
        return to_jsonable(out)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def from_dict(cls, stored: dict) -> Report:
        within = stored.get("within_top")
        return cls(title=stored["title"], created_at=stored["created_at"],
                   dataset=stored["dataset"], space=stored["space"],
                   architectures=tuple(stored["architectures"]),
                   ground_truth=GroundTruth(**stored["ground_truth"]),
                   scoring=stored["scoring"],
                   rows=tuple(SourceRow.from_dict(r) for r in stored["rows"]),
                   within_top=WithinTop(**within) if within else None,
                   pairwise=tuple(PairedDifference.from_dict(p) for p in stored["pairwise"]),
                   environment=stored["environment"], preset=stored.get("preset"))

    @classmethod
    def from_json(cls, text: str) -> Report:
        return cls.from_dict(json.loads(text))
