"""Search outcome on NAS-Bench-201: the published accuracy of the cell each search returns.

Each contender (a strategy with its scores) runs once per search seed as an Optuna study in
one database, under a budget of charged CPU-seconds: every measurement is charged what it
cost when first measured, also when a later seed finds it cached (tabular NAS benchmarks
simulate time the same way). The published table is read only here, after a search, to
judge the cell it returned; ``truth`` can be replaced (a test permutes it) and the searches
never see it. Anchors are published searches on the same table (sources in the docs).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from nas.analysis import metrics
from nas.bench import named
from nas.core.data import DataConfig, resolve_data_path
from nas.core.runtime import machine
from nas.core.trainer import TrainConfig
from nas.engines import SearchConfig, SearchJob, run_search
from nas.engines.evolution import FIDELITY, anytime, charged, incumbent
from nas.errors import InputError
from nas.published import load_nb201

# (mean, sd) of the returned cell's CIFAR-10 test accuracy (%), as published
ANCHORS = (
    ("REA (NAS-Bench-201; 12,000 s simulated, 500 runs)", 93.92, 0.30),
    ("REINFORCE (NAS-Bench-201; 12,000 s simulated, 500 runs)", 93.85, 0.37),
    ("random search (NAS-Bench-201; 12,000 s simulated, 500 runs)", 93.70, 0.36),
    ("BOHB (NAS-Bench-201; 12,000 s simulated, 500 runs)", 93.61, 0.52),
    ("NASWOT N=1000 (Mellor et al. 2021; 306 GPU-s, 500 runs)", 92.96, 0.81),
    ("NASWOT N=100 (Mellor et al. 2021; 30 GPU-s, 500 runs)", 92.81, 0.99),
)


@dataclass(frozen=True)
class Contender:
    """One strategy with its scores, as ``SearchConfig`` fields (an entry of
    ``experiments/contenders.toml``, see ``contender``)."""

    name: str  # the entry's name (selects it; the label is made from the fields)
    strategy: str
    settings: dict = field(default_factory=dict)

    @property
    def ladder(self) -> tuple[str, ...]:
        config = SearchConfig(space="nb201", strategy=self.strategy, **self.settings)
        return (config.rea_score,) if self.strategy == "rea" else config.fidelities

    @property
    def label(self) -> str:
        """E.g. ``"sh params>synflow>ensemble>train50"``; also names its studies."""
        return f"{self.strategy} {'>'.join(f.replace(':', '') for f in self.ladder)}"


def contender(name: str) -> Contender:
    """The contender ``name`` of ``experiments/contenders.toml`` (lists as tuples).

    Raises:
        UnknownNameError: an unknown name (one line listing the valid ones).
    """
    fields = named.entry("contenders", name)
    settings = {k: tuple(v) if isinstance(v, list) else v
                for k, v in fields.pop("settings", {}).items()}
    return Contender(name, settings=settings, **fields)


def contenders() -> dict[str, Contender]:
    """Every contender of ``experiments/contenders.toml`` by name, in file order."""
    return {n: contender(n) for n in named.names("contenders")}


@dataclass(frozen=True)
class OutcomeConfig:
    contenders: tuple[str, ...] = ("zero-cost-only", "sh-ensemble-train25-train50")
    seeds: int = 10  # search seeds per contender
    budget: float = 3600.0  # charged CPU-seconds per search
    resize: int = 16  # the frontier's 16 px: proxy training ~14 CPU-s per cell at IPC 10
    per_class: int = 1000
    test_per_class: int = 200
    ipc: int = 10
    epochs: int = 50  # the frontier's protocol length (train:<n> cuts it)
    metric: str = "cifar10_test_acc"  # the published accuracy that judges a returned cell

    def __post_init__(self) -> None:
        if self.seeds < 1 or self.budget <= 0:
            raise InputError(f"--seeds must be >= 1 and --budget > 0, got {self.seeds} and "
                             f"{self.budget}")


def search_config(contender: Contender, seed: int, cfg: OutcomeConfig) -> SearchConfig:
    """The contender's search for ``seed``; its own ``cpu_budget`` overrides the common one."""
    settings = {"cpu_budget": cfg.budget, "trials": 10**9, **contender.settings}
    return SearchConfig(space="nb201", proxy="random", ipc=cfg.ipc, strategy=contender.strategy,
                        seed=seed, train_seed=0,
                        train=TrainConfig(epochs=cfg.epochs, **named.training("nb201-fast")),
                        study=f"outcome/{contender.label}/seed{seed}", **settings)


def run_outcome(db_url: str, cfg: OutcomeConfig, *, data_path: str | None = None,
                data: DataConfig | None = None, truth: dict[str, float] | None = None,
                catalog: dict[str, Contender] | None = None, workers: int = 1,
                note: Callable[[str], None] = print) -> dict:
    """Run every contender for every seed (cached measurements are reused and charged) and
    judge the returned cells by ``truth`` (default: the published table's ``cfg.metric``).
    Each search's curve lists (charged seconds, accuracy, cell) where its returned cell
    changed."""
    catalog = contenders() if catalog is None else catalog
    unknown = [c for c in cfg.contenders if c not in catalog]
    if unknown:
        raise InputError(f"unknown contender(s) {unknown}; choose from {', '.join(catalog)}")
    data = data or DataConfig(path=str(resolve_data_path(data_path)), resize=cfg.resize,
                              per_class=cfg.per_class, test_per_class=cfg.test_per_class)
    truth = truth if truth is not None else load_nb201().accuracy(cfg.metric)
    rows = []
    for name in cfg.contenders:
        contender = catalog[name]
        searches = []
        for seed in range(cfg.seeds):
            start = time.perf_counter()
            summary = run_search(SearchJob(db_url, data, search_config(contender, seed, cfg)),
                                 workers=workers, progress=False)
            wall = time.perf_counter() - start
            ladder = contender.ladder
            chosen = incumbent(summary.trials, ladder)
            curve = [(s, truth[a], a) for s, a in anytime(summary.trials, ladder)]
            evaluations = Counter(t.user_attrs[FIDELITY] for t in summary.trials)
            searches.append({"seed": seed, "returned": chosen, "accuracy": truth[chosen],
                             "charged_seconds": charged(summary.trials),
                             "wall_seconds": wall,
                             "evaluations": {f: evaluations[f] for f in ladder},
                             "curve": curve})
            note(f"{contender.label} seed {seed}: {truth[chosen]:.2f} after "
                 f"{searches[-1]['charged_seconds']:.0f} charged s")
        accs = [s["accuracy"] for s in searches]
        rows.append({"contender": contender.label, "name": name, "strategy": contender.strategy,
                     "scores": " > ".join(contender.ladder), "settings": contender.settings,
                     "mean": statistics.mean(accs),
                     "sd": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                     "median_cpu_hours": statistics.median(
                         s["charged_seconds"] for s in searches) / 3600,
                     "median_wall_hours": statistics.median(
                         s["wall_seconds"] for s in searches) / 3600,
                     "median_overhead_hours": statistics.median(
                         s["wall_seconds"] - s["charged_seconds"] for s in searches) / 3600,
                     "evaluations": {f: statistics.median(s["evaluations"][f]
                                                          for s in searches)
                                     for f in contender.ladder},
                     "searches": searches})
    return {"config": asdict(cfg), "data": data.to_dict(), "machine": machine(), "rows": rows,
            "anchors": [{"source": s, "mean": m, "sd": sd} for s, m, sd in ANCHORS]}


def minus_previous(rows: list[dict], n_resamples: int = 1000) -> list[tuple | None]:
    """Each contender's mean accuracy minus the previous contender's, paired by search seed,
    with a 95% bootstrap interval over seeds (None for the first row)."""
    def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean(a - b))

    out: list[tuple | None] = [None]
    for before, row in zip(rows, rows[1:], strict=False):
        by_seed = {s["seed"]: s["accuracy"] for s in before["searches"]}
        pairs = [(s["accuracy"], by_seed[s["seed"]]) for s in row["searches"]
                 if s["seed"] in by_seed]
        a, b = (np.array(v) for v in zip(*pairs, strict=True))
        out.append((mean_difference(a, b),
                    *metrics.bootstrap_ci(a, b, mean_difference, n_resamples=n_resamples)))
    return out


def markdown(result: dict) -> str:
    cfg = result["config"]
    lines = [f"Returned cell's published CIFAR-10 test accuracy (NAS-Bench-201, "
             f"{cfg['metric']}), {cfg['seeds']} search seeds, budget {cfg['budget']:.0f} "
             f"charged CPU-s per search; proxy: random IPC {cfg['ipc']} at "
             f"{cfg['resize']} px.", "",
             "| strategy | scores (cheapest first) | mean ± sd (%) | minus the row above, "
             "paired by seed [95% CI] | median charged CPU-h | median wall-clock h | "
             "median overhead h (wall − charged) | median evaluations per fidelity |",
             "|---|---|---|---|---|---|---|---|"]
    for r, diff in zip(result["rows"], minus_previous(result["rows"]), strict=True):
        evals = ", ".join(f"{f}: {n:g}" for f, n in r["evaluations"].items())
        paired = "–" if diff is None else f"{diff[0]:+.2f} [{diff[1]:+.2f}, {diff[2]:+.2f}]"
        wall, overhead = (f"{r[k]:.3f}" if k in r else "–"
                          for k in ("median_wall_hours", "median_overhead_hours"))
        lines.append(f"| {r['contender']} ({r['strategy']}) | {r['scores']} | "
                     f"{r['mean']:.2f} ± {r['sd']:.2f} | {paired} | "
                     f"{r['median_cpu_hours']:.3f} | {wall} | {overhead} | {evals} |")
    for a in result["anchors"]:
        lines.append(f"| {a['source']} | published | {a['mean']:.2f} ± {a['sd']:.2f} | – | – "
                     f"| – | – | – |")
    if any("median_wall_hours" not in r for r in result["rows"]):
        lines += ["", "Wall-clock and overhead: – where the searches ran before they were "
                  "recorded (they fill on the next run)."]
    return "\n".join(lines) + "\n"


def _step(curve: list[list[float]], grid: np.ndarray) -> np.ndarray:
    """Best-so-far accuracy of the returned cell at each grid point (nan before the first)."""
    xs = np.array([p[0] for p in curve])
    ys = np.array([p[1] for p in curve])
    idx = np.searchsorted(xs, grid, side="right") - 1
    return np.where(idx >= 0, ys[np.clip(idx, 0, None)], np.nan)


def plot(result: dict, path: Path) -> Path:
    """Anytime curves: the returned cell's published accuracy against charged CPU-seconds,
    median over seeds with the 25-75% band; anchors as horizontal lines."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5), constrained_layout=True)
    grid = np.geomspace(0.1, result["config"]["budget"] * 1.2, 300)
    for r in result["rows"]:
        curves = np.array([_step(s["curve"], grid) for s in r["searches"]])
        ok = ~np.isnan(curves).any(axis=0)
        median = np.median(curves[:, ok], axis=0)
        low, high = np.percentile(curves[:, ok], [25, 75], axis=0)
        (line,) = ax.plot(grid[ok], median, label=r["contender"])
        ax.fill_between(grid[ok], low, high, color=line.get_color(), alpha=0.2)
    for a in result["anchors"][:1] + result["anchors"][4:5]:
        ax.axhline(a["mean"], ls="--", lw=0.8, color="grey")
        ax.annotate(a["source"], (grid[0], a["mean"]), fontsize=7, xytext=(2, 2),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("charged CPU-seconds")
    ax.set_ylabel("published test accuracy of the returned cell (%)")
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
