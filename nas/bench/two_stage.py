"""Two-stage ranking: a zero-cost ensemble over every candidate, then proxy training, with a
calibration step that decides per space and dataset which of the two signals to trust.

1. The rank-sum ensemble (params + synflow + NASWOT) scores every candidate.
2. Calibration: ``calibration`` candidates spread evenly along the ensemble's order are
   trained on the full training split for a few epochs (the closest a user gets to the truth
   at a small cost) and on the proxy. The signal whose Spearman with that short full-data
   training is higher wins:
   - ``prefilter`` (the ensemble wins, e.g. NAS-Bench-201): the ensemble's top ``keep`` are
     trained on the proxy and reordered inside the top by ``inner`` (``proxy``: its score;
     ``sum``: the rank sum of ensemble and proxy); every other candidate keeps the
     ensemble's order below them.
   - ``proxy`` (the proxy wins, e.g. convnet720, where the ensemble ranks at chance): no
     prefilter; every candidate is trained on the proxy and ranked by it.
3. The ranking's cost counts the ensemble, the calibration (both trainings) and every proxy
   training it used, plus the proxy's build.

The truth (NAS-Bench-201's published accuracies, or a ground-truth CSV) is read only after
the ranking, to judge it beside each stage alone with paired bootstrap differences.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from nas import api
from nas.analysis import metrics
from nas.analysis.ensemble import DEFAULT_MEMBERS, rank_ensemble
from nas.analysis.zero_cost import ZeroCostConfig, iter_scores
from nas.bench import named
from nas.core.data import DataConfig, resolve_data_path
from nas.core.outcome import run_accuracy, undefined_last
from nas.core.runtime import machine
from nas.core.trainer import TrainConfig
from nas.errors import InputError
from nas.ground_truth import read_ground_truth
from nas.published import load_nb201
from proxies import ProxyRequest
from search_spaces import get_space
from storage import Database

PREFILTER, PROXY = "prefilter", "proxy"
REGIMES = ("auto", PREFILTER, PROXY)  # auto: calibration decides
INNER_RULES = ("sum", "proxy")


@dataclass(frozen=True)
class TwoStageConfig:
    space: str = "nb201"
    sample: int = 200  # nb201: cells drawn uniformly (convnet720: the truth file's archs)
    keep: float = 0.1  # the prefilter's top fraction trained on the proxy
    calibration: int = 8  # candidates trained on the full split to pick the regime
    calibration_epochs: int = 1
    inner: str = "sum"
    regime: str = "auto"
    proxy_method: str = "random"
    ipc: int = 10
    epochs: int = 50  # proxy training
    # TrainConfig overrides of both trainings: the frontier's NAS-Bench-201 protocol
    train: dict = field(default_factory=lambda: named.training("nb201-fast"))
    resize: int | None = 16
    per_class: int | None = 1000
    test_per_class: int | None = 200
    truth: str | None = None  # convnet720: a ground-truth CSV (nb201: the published table)
    compare: bool = True  # also train the proxy on every candidate, only to judge it alone
    seed: int = 0
    n_resamples: int = 1000

    def __post_init__(self) -> None:
        if self.space not in ("nb201", "convnet720"):
            raise InputError(f"--space must be nb201 or convnet720, got {self.space!r}")
        if not 0 < self.keep <= 1:
            raise InputError(f"--keep must be in (0, 1], got {self.keep}")
        if self.calibration < 3 or self.sample < self.calibration:
            raise InputError(f"--calibration must be >= 3 and <= --sample, got "
                             f"{self.calibration} and {self.sample}")
        if self.regime not in REGIMES:
            raise InputError(f"--regime must be one of {list(REGIMES)}, got {self.regime!r}")
        if self.inner not in INNER_RULES:
            raise InputError(f"--inner must be one of {list(INNER_RULES)}, got {self.inner!r}")
        if self.space == "convnet720" and not (self.truth and Path(self.truth).is_file()):
            raise InputError(f"convnet720 needs --truth, a ground-truth CSV; got {self.truth}")
        TrainConfig(epochs=self.epochs, **self.train)  # unknown fields fail here


# What each space is measured with by default: NAS-Bench-201 on the frontier's data and
# recipe; convnet720 on all 45,000 images against the cpu-full truth, with the DC protocol.
SPACE_DEFAULTS = {
    "nb201": {},
    "convnet720": {"per_class": None, "test_per_class": None, "train": {},
                   "truth": "benchmarks/results/cpu-full-truth.csv"},
}


@dataclass(frozen=True)
class Calibration:
    """Which signal agrees with short full-data training on a few candidates."""

    archs: list[str]
    ensemble_rho: float
    proxy_rho: float

    @property
    def regime(self) -> str:
        """The signal that agrees better; the cheaper prefilter wins ties."""
        return PREFILTER if self.ensemble_rho >= self.proxy_rho else PROXY


@dataclass(frozen=True)
class Source:
    """A ranking of every candidate (higher = better) and the CPU-seconds it cost."""

    score: dict[str, float]
    cpu_seconds: float


@dataclass(frozen=True)
class JudgedSource:
    """One source judged against the truth, paired against the two-stage ranking."""

    source: str
    cpu_seconds: float
    spearman: float
    spearman_ci: tuple[float, float]
    two_stage_minus: float
    two_stage_minus_ci: tuple[float, float]
    within_top: dict  # ``nas.analysis.metrics.within`` inside the prefilter's top


@dataclass(frozen=True)
class TwoStageResult:
    """What ``run_two_stage`` returns and ``two-stage-<space>.json`` stores (``to_dict``)."""

    config: dict
    data: dict
    machine: dict | None  # None: stored before results recorded it
    candidates: int
    regime: str
    calibration: Calibration
    top: list[str]
    rows: list[JudgedSource]

    def to_dict(self) -> dict:
        out = asdict(self)
        return out if self.machine is not None else {k: v for k, v in out.items()
                                                     if k != "machine"}

    @classmethod
    def from_dict(cls, stored: dict) -> TwoStageResult:
        rows = [JudgedSource(**{**r, "spearman_ci": tuple(r["spearman_ci"]),
                                "two_stage_minus_ci": tuple(r["two_stage_minus_ci"])})
                for r in stored["rows"]]
        return cls(**{**stored, "machine": stored.get("machine"),
                      "calibration": Calibration(**stored["calibration"]), "rows": rows})


def calibration_archs(ensemble: dict[str, float], n: int) -> list[str]:
    """``n`` candidates evenly spaced along the ensemble's order, best and worst included."""
    order = sorted(ensemble, key=lambda a: (-ensemble[a], a))
    picks = np.unique(np.round(np.linspace(0, len(order) - 1, n)).astype(int))
    return [order[i] for i in picks]


def _rho(score: dict[str, float], reference: dict[str, float]) -> float:
    archs = sorted(reference)
    rho = metrics.spearman([score[a] for a in archs], [reference[a] for a in archs])
    return rho if math.isfinite(rho) else -1.0  # a constant signal tells nothing


def choose_regime(ensemble: dict[str, float], proxy: dict[str, float],
                  calibration: dict[str, float]) -> Calibration:
    """The ensemble's and the proxy's rho against the calibration trainings (its
    ``regime``: the one that agrees better)."""
    return Calibration(list(calibration), _rho(ensemble, calibration),
                       _rho(proxy, calibration))


def staged_ranking(ensemble: dict[str, float], proxy: dict[str, float], top: list[str],
                   inner: str) -> dict[str, float]:
    """Every candidate's score in the prefilter regime: ``top`` (scored by ``proxy``) above
    the rest, ordered inside by ``inner``; the rest in the ensemble's order."""
    block = {a: proxy[a] for a in top} if inner == PROXY else rank_ensemble(
        {"ensemble": {a: ensemble[a] for a in top}, "proxy": {a: proxy[a] for a in top}},
        ("ensemble", "proxy"))
    floor = max(v for a, v in ensemble.items() if a not in block) if len(block) < len(
        ensemble) else 0.0
    ranks = {a: i for i, a in enumerate(sorted(block, key=lambda a: (block[a], a)))}
    return {a: floor + 1 + ranks[a] if a in block else ensemble[a] for a in ensemble}


def _candidates(cfg: TwoStageConfig, truth: dict[str, float]) -> list[str]:
    if cfg.space == "convnet720":
        return sorted(truth)
    ids = sorted(s.id for s in get_space("nb201").enumerate())
    rng = np.random.default_rng(cfg.seed)
    return sorted(ids[i] for i in rng.choice(len(ids), size=cfg.sample, replace=False))


def _truth(cfg: TwoStageConfig, dataset_key: str) -> dict[str, float]:
    """The accuracy that judges the ranking (its values are not read before the ranking is
    made)."""
    if cfg.space == "nb201":
        return load_nb201().accuracy("cifar10_test_acc")
    rows = read_ground_truth(Path(cfg.truth), dataset_key).rows
    return {r["arch_id"]: float(r["test_acc"]) for r in rows
            if int(r["seed"]) == cfg.seed and r["status"] == "finished"}


def run_two_stage(db: Database | str, cfg: TwoStageConfig, *, data_path: str | None = None,
                  workers: int = 1, note: Callable[[str], None] = print) -> TwoStageResult:
    """Rank the candidates in two stages (see module), then judge the ranking and each stage
    alone against the truth. Every score and run is cached in ``db``."""
    data_config = DataConfig(path=str(resolve_data_path(data_path)), resize=cfg.resize,
                             per_class=cfg.per_class, test_per_class=cfg.test_per_class)
    data = api.load_data(data_config)
    request = ProxyRequest(cfg.proxy_method, ipc=cfg.ipc, seed=cfg.seed)
    request.check_data(data)
    db = api.open_checked(db, request, data.key)  # bad input fails before anything is written
    dataset = api.register_dataset(db, data)
    truth = _truth(cfg, dataset.key)  # only its keys (convnet720's candidates) until judging
    archs = _candidates(cfg, truth)
    records = list(iter_scores(db, data, dataset, cfg.space, archs, list(DEFAULT_MEMBERS),
                               ZeroCostConfig()))
    by_member = {m: undefined_last({r.arch_id: r.value for r in records if r.method == m})
                 for m in DEFAULT_MEMBERS}
    ensemble = rank_ensemble(by_member)
    zero_cost_s = sum(r.wall_seconds for r in records)
    note(f"ensemble over {len(archs)} {cfg.space} candidates: {zero_cost_s:.0f} CPU-s")

    def final_val(run) -> float:  # a diverged run: chance (nas.core.outcome)
        return run_accuracy(run.status, run.val_acc, data.num_classes)

    def train(proxy, cells: list[str], epochs: int) -> dict:
        plan = api.EvaluationPlan(cfg.space, cells, TrainConfig(epochs=epochs, **cfg.train),
                                  seed=cfg.seed)
        runs = api.evaluate_architectures(db, data, dataset, proxy, plan, workers=workers,
                                          progress=False)
        return dict(zip(cells, runs, strict=True))

    proxy = api.build_proxy(db, data, dataset, cfg.proxy_method, ipc=cfg.ipc, seed=cfg.seed)
    calib = calibration_archs(ensemble, cfg.calibration)
    calib_runs = train(None, calib, cfg.calibration_epochs)
    proxy_runs = train(proxy, calib, cfg.epochs)
    calibration = choose_regime(ensemble, {a: final_val(r) for a, r in proxy_runs.items()},
                                {a: final_val(r) for a, r in calib_runs.items()})
    regime = calibration.regime if cfg.regime == "auto" else cfg.regime
    note(f"calibration on {len(calib)}: ensemble rho {calibration.ensemble_rho:.2f}, proxy rho "
         f"{calibration.proxy_rho:.2f} -> {regime}{'' if cfg.regime == 'auto' else ' (--regime)'}")
    top = sorted(archs, key=lambda a: (-ensemble[a], a))[:max(3, round(cfg.keep * len(archs)))]
    used = top if regime == PREFILTER else archs
    proxy_runs |= train(proxy, used, cfg.epochs)
    proxy_score = {a: final_val(r) for a, r in proxy_runs.items()}
    ranking = staged_ranking(ensemble, proxy_score, top, cfg.inner) if regime == PREFILTER \
        else {a: proxy_score[a] for a in archs}
    cost = (zero_cost_s + sum(r.wall_seconds for r in calib_runs.values())
            + proxy.build_seconds + sum(proxy_runs[a].wall_seconds for a in set(used) | set(
                calib)))
    if cfg.compare:
        proxy_runs |= train(proxy, archs, cfg.epochs)
    if cfg.space == "nb201":  # the values are read from here on, only to judge
        space = get_space("nb201")
        truth = {a: truth[space.parse(a).id] for a in archs}
    sources = {"two-stage": Source(ranking, cost), "ensemble": Source(ensemble, zero_cost_s)}
    if set(proxy_runs) >= set(archs):
        sources["proxy alone"] = Source({a: final_val(proxy_runs[a]) for a in archs},
                                        proxy.build_seconds + sum(proxy_runs[a].wall_seconds
                                                                  for a in archs))
    return TwoStageResult(config=asdict(cfg), data=data_config.to_dict(), machine=machine(),
                          candidates=len(archs), regime=regime, calibration=calibration,
                          top=top, rows=judge(sources, truth, top, cfg))


def judge(sources: dict[str, Source], truth: dict[str, float], top: list[str],
          cfg: TwoStageConfig) -> list[JudgedSource]:
    """Each source's Spearman over every candidate and inside the prefilter's top (bootstrap
    intervals), the two-stage ranking minus it (paired), and its CPU-seconds."""
    archs = sorted(truth)
    y = [truth[a] for a in archs]
    inside = [archs.index(a) for a in top]
    staged = [sources["two-stage"].score[a] for a in archs]
    rows = []
    for name, source in sources.items():
        x = [source.score[a] for a in archs]
        diff = metrics.paired_spearman_difference(staged, x, y, n_resamples=cfg.n_resamples,
                                                  seed=cfg.seed)
        rows.append(JudgedSource(
            source=name, cpu_seconds=source.cpu_seconds, spearman=diff.rho_b,
            spearman_ci=metrics.bootstrap_ci(x, y, n_resamples=cfg.n_resamples, seed=cfg.seed),
            two_stage_minus=diff.difference, two_stage_minus_ci=(diff.low, diff.high),
            within_top=metrics.within(x, y, inside, n_resamples=cfg.n_resamples,
                                      seed=cfg.seed)))
    return rows


def markdown(result: TwoStageResult) -> str:
    cal = result.calibration
    epochs = result.config["calibration_epochs"]
    forced = result.config.get("regime", "auto") != "auto"  # older results lack the field
    lines = [f"{result.config['space']}: {result.candidates} candidates; calibration on "
             f"{len(cal.archs)} (full data, {epochs} epoch{'s' * (epochs != 1)}): "
             f"ensemble rho {cal.ensemble_rho:.2f}, proxy rho "
             f"{cal.proxy_rho:.2f}, so the regime is **{result.regime}**"
             f"{' (set by --regime)' if forced else ''}; the "
             f"prefilter's top is {len(result.top)} candidates.", "",
             "| source | CPU-s | Spearman [95% CI] | two-stage minus it [95% CI] | inside the "
             "prefilter's top: Spearman [95% CI] |", "|---|---|---|---|---|"]
    for r in result.rows:
        lo, hi = r.spearman_ci
        dlo, dhi = r.two_stage_minus_ci
        w = r.within_top
        wlo, whi = w["spearman_ci"]
        lines.append(f"| {r.source} | {r.cpu_seconds:,.0f} | {r.spearman:.3f} "
                     f"[{lo:.2f}, {hi:.2f}] | {r.two_stage_minus:+.3f} [{dlo:+.3f}, "
                     f"{dhi:+.3f}] | {w['spearman']:.2f} [{wlo:.2f}, {whi:.2f}] |")
    return "\n".join(lines) + "\n"
