"""The NAS-Bench-201 frontier: inside a zero-cost prefilter's top cells, how well each
proxy-training recipe ranks them against the published accuracies, per CPU-second.

The prefilter is what a user without ground truth has: a rank-sum ensemble of zero-cost
scores (params + synflow + NASWOT, Abdelfattah et al. 2021) over a random sample of cells,
read from a ``nas bench nb201-zero-cost`` result; its top fraction are the cells every recipe
trains. Each recipe is one point: (CPU-seconds per cell, Spearman of its ranking with a
bootstrap interval, paired difference against the ensemble's own ranking of the same cells).
Runs are ordinary toolkit runs in one database, so a re-run trains only what is missing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from nas import api
from nas.analysis import metrics
from nas.analysis.curves import CURVE_SCORES, curve_score
from nas.analysis.ensemble import DEFAULT_MEMBERS, rank_ensemble
from nas.bench import named
from nas.core.data import DataConfig, resolve_data_path
from nas.core.outcome import RunStatus, run_accuracy, undefined_last
from nas.core.runtime import machine
from nas.core.trainer import TrainConfig
from nas.errors import InputError
from nas.published import load_nb201
from search_spaces import get_space
from storage import Database

ENSEMBLE = DEFAULT_MEMBERS
CURVE_POINTS = tuple(s for s in CURVE_SCORES if s != "final-val")  # read from each run's curve
VAL_CURVE = ("best-val", "val-auc")  # need more than the final validation point
@dataclass(frozen=True)
class Recipe:
    """One way to train the prefiltered cells: a proxy set and a training protocol (an entry
    of ``experiments/frontier.toml``, see ``recipe``)."""

    name: str  # the entry's name (selects it; the label is made from the fields)
    method: str = "random"  # proxy method; "random" with ipc = all images is full data
    ipc: int = 10
    resize: int | None = 16  # None: CIFAR-10's native 32x32
    train: dict = field(default_factory=dict)  # TrainConfig fields
    cells: int | None = None  # only the first N prefiltered cells (the costly recipes)
    options: dict = field(default_factory=dict)  # proxy build options
    seed: int | None = None  # proxy and training seed; None: the frontier's seed

    @property
    def label(self) -> str:
        """E.g. ``"random ipc10 16px 50ep lr.05 b50 flip seed 1"``."""
        seed = "" if self.seed is None else f" seed {self.seed}"
        return (f"{self.method} ipc{self.ipc} {self.resize or 32}px "
                f"{named.train_label(self.train)}{seed}")


def recipe(name: str) -> Recipe:
    """The recipe ``name`` of ``experiments/frontier.toml``.

    Raises:
        UnknownNameError: an unknown name (one line listing the valid ones).
    """
    fields = named.entry("frontier", name)
    train = {"epochs": fields.pop("epochs"), **named.training(fields.pop("training"))}
    if fields.get("resize") == "native":
        fields["resize"] = None
    return Recipe(name, train=train, **fields)


def recipes(names: list[str] | None = None) -> tuple[Recipe, ...]:
    """The named recipes (default: every recipe, in file order)."""
    return tuple(recipe(n) for n in (named.names("frontier") if names is None else names))


@dataclass(frozen=True)
class FrontierConfig:
    scores: str = "benchmarks/results/nb201-zero-cost.json"  # per-cell zero-cost scores
    top_fraction: float = 0.05
    per_class: int = 1000  # training images per class before the 10% validation split
    test_per_class: int = 200
    seed: int = 0
    metric: str = "cifar10_test_acc"  # published accuracy the cells are judged by
    n_resamples: int = 1000

    def __post_init__(self) -> None:
        if not 0 < self.top_fraction <= 1:
            raise InputError(f"--top-fraction must be in (0, 1], got {self.top_fraction}")
        if not Path(self.scores).is_file():
            raise InputError(f"--scores {self.scores} is not a file; run `nas bench "
                             "nb201-zero-cost --sample 1000` first")


def read_scores(path: str) -> dict:
    """The per-cell zero-cost scores ``nas bench nb201-zero-cost`` wrote to ``path``.

    Raises:
        InputError: the file is not JSON, or lacks the ensemble members' scores or seconds.
    """
    fix = "write it with `nas bench nb201-zero-cost --sample 1000`"
    try:
        stored = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"--scores {path} is not a readable JSON file ({exc}); {fix}") from None
    missing = [f"{part}.{m}" for part in ("scores", "seconds_per_cell") for m in ENSEMBLE
               if not isinstance(stored, dict) or not isinstance(stored.get(part), dict)
               or m not in stored[part]]
    if missing:
        raise InputError(f"--scores {path} lacks {missing}; {fix}")
    return stored


@dataclass(frozen=True)
class Point:
    """One point of the frontier: a ranking of the prefiltered cells (a recipe read one way,
    a zero-cost score, or the mean of a recipe's seeds) judged against the published
    accuracies and paired against the ensemble's ranking of the same cells."""

    recipe: str  # the label
    cells: int
    cpu_seconds_per_cell: float
    spearman: float
    spearman_ci: tuple[float, float]
    minus_ensemble: float
    minus_ensemble_ci: tuple[float, float]
    selected: str  # the cell it ranks first
    selected_acc: float
    selected_rank: int  # by published accuracy among the cells
    scores: dict[str, float]  # per cell, to re-read without training
    # the recipe's rank summed with the ensemble's (``with_ensemble``); None for zero-cost
    with_ensemble_spearman: float | None = None
    with_ensemble_minus_ensemble: float | None = None
    with_ensemble_minus_ensemble_ci: tuple[float, float] | None = None
    recipe_config: dict | None = None  # the recipe's fields (None: not a trained recipe)
    score: str | None = None  # how its runs were read ("final-val", a curve score)


@dataclass(frozen=True)
class MemberRow:
    """The ensemble or one member over every sampled cell; the ensemble minus it, paired."""

    source: str
    cells: int
    spearman: float
    ensemble_minus: float | None = None  # None on the ensemble's own row
    ensemble_minus_ci: tuple[float, float] | None = None


@dataclass(frozen=True)
class SeedAgreement:
    """How alike two seeds of one recipe rank the cells they share."""

    recipe: str
    seeds: tuple[int, int]
    cells: int
    spearman: float
    spearman_ci: tuple[float, float]


@dataclass(frozen=True)
class RecipeFinal:
    """A trained recipe's final validation accuracy per cell, with its seed and cost."""

    recipe: Recipe
    seed: int
    score: dict[str, float]
    cpu_seconds_per_cell: float


@dataclass(frozen=True)
class FrontierResult:
    """What ``run_frontier`` returns and ``nb201-frontier.json`` stores (``to_dict``)."""

    config: dict
    machine: dict | None  # None: stored before results recorded it
    cells: list[str]  # the prefilter's top, best first
    sample: list[MemberRow]
    points: list[Point]
    seed_agreement: list[SeedAgreement]

    def to_dict(self) -> dict:
        """JSON-ready; a row's or point's fields that are None are left out."""
        out = asdict(self)
        for key in ("sample", "points"):
            out[key] = [{k: v for k, v in item.items() if v is not None} for item in out[key]]
        return out if self.machine is not None else {k: v for k, v in out.items()
                                                     if k != "machine"}

    @classmethod
    def from_dict(cls, stored: dict) -> FrontierResult:
        return cls(config=stored["config"], machine=stored.get("machine"),
                   cells=stored["cells"], sample=[_typed(MemberRow, r) for r in stored["sample"]],
                   points=[_typed(Point, p) for p in stored["points"]],
                   seed_agreement=[_typed(SeedAgreement, r) for r in stored["seed_agreement"]])


def _typed(cls: type, stored: dict):
    """``cls`` from its stored dict, JSON lists back to tuples where the field is a pair."""
    pairs = {f.name for f in fields(cls) if "tuple" in str(f.type)}
    return cls(**{k: tuple(v) if k in pairs and v is not None else v for k, v in stored.items()})


def ensemble_top(scores: dict[str, dict[str, float]], fraction: float
                 ) -> tuple[list[str], dict[str, float]]:
    """(the top ``fraction`` of the cells every member scored, best first; each such
    cell's rank sum, higher = better)."""
    rank_sum = rank_ensemble(scores, ENSEMBLE)
    order = sorted(rank_sum, key=lambda c: -rank_sum[c])
    return order[:max(3, round(fraction * len(rank_sum)))], rank_sum


def _score(run, name: str, classes: int) -> float | None:
    """A run's score: its final validation accuracy, or a learning-curve score of
    ``nas.analysis.curves``; a diverged run scores by ``nas.core.outcome``'s rule (chance
    accuracy; an undefined curve score, ranked last by ``undefined_last``)."""
    if name == "final-val":
        return run_accuracy(run.status, run.val_acc, classes)
    return curve_score(name, run.curve) if run.status == RunStatus.FINISHED else -math.inf


def _val_points(run) -> int:
    return len((run.curve or {}).get("val_acc") or [])


def _point(name: str, cells: list[str], score: dict[str, float], truth: dict[str, float],
           ensemble: dict[str, float], cpu_per_cell: float, cfg: FrontierConfig) -> Point:
    x, y, z = ([d[c] for c in cells] for d in (score, truth, ensemble))
    diff = metrics.paired_spearman_difference(x, z, y, n_resamples=cfg.n_resamples,
                                              seed=cfg.seed)
    chosen = max(sorted(cells), key=lambda c: score[c])  # ties: by id, not by the prefilter
    return Point(recipe=name, cells=len(cells), cpu_seconds_per_cell=cpu_per_cell,
                 spearman=metrics.spearman(x, y),
                 spearman_ci=metrics.bootstrap_ci(x, y, n_resamples=cfg.n_resamples,
                                                  seed=cfg.seed),
                 minus_ensemble=diff.difference, minus_ensemble_ci=(diff.low, diff.high),
                 selected=chosen, selected_acc=truth[chosen],
                 selected_rank=1 + sorted(cells, key=lambda c: -truth[c]).index(chosen),
                 scores={c: score[c] for c in cells})


def with_ensemble(score: dict[str, float], rank_sum: dict[str, float], truth: dict[str, float],
                  cfg: FrontierConfig) -> dict:
    """The same cells ranked by the rank sum of the ensemble's and the recipe's ranks (the
    two-stage ranking's ``sum`` rule inside the top): its Spearman and its paired difference
    against the ensemble alone, as the ``with_ensemble_*`` fields of a ``Point``."""
    cells = sorted(score)
    combined = rank_ensemble({"ensemble": {c: rank_sum[c] for c in cells}, "recipe": score},
                             ("ensemble", "recipe"))
    diff = metrics.paired_spearman_difference(
        [combined[c] for c in cells], [rank_sum[c] for c in cells], [truth[c] for c in cells],
        n_resamples=cfg.n_resamples, seed=cfg.seed)
    return {"with_ensemble_spearman": diff.rho_a, "with_ensemble_minus_ensemble": diff.difference,
            "with_ensemble_minus_ensemble_ci": (diff.low, diff.high)}


def ensemble_vs_members(scores: dict[str, dict[str, float]], truth: dict[str, float],
                        cfg: FrontierConfig) -> list[MemberRow]:
    """Over every sampled cell (an undefined member score ranks last, as NASWOT's code treats
    a singular kernel): each member's and the ensemble's Spearman against the published
    accuracy, and the ensemble minus each member with a paired interval."""
    cells = sorted(set.intersection(*(set(scores[m]) for m in ENSEMBLE)))
    filled = {m: undefined_last({c: scores[m][c] for c in cells}) for m in ENSEMBLE}
    ensemble = rank_ensemble(filled, ENSEMBLE)
    y = [truth[c] for c in cells]
    ens = [ensemble[c] for c in cells]
    rows = [MemberRow("ensemble", len(cells), metrics.spearman(ens, y))]
    for m in ENSEMBLE:
        diff = metrics.paired_spearman_difference(ens, [filled[m][c] for c in cells], y,
                                                  n_resamples=cfg.n_resamples, seed=cfg.seed)
        rows.append(MemberRow(m, len(cells), diff.rho_b, diff.difference,
                              (diff.low, diff.high)))
    return rows


def run_frontier(db: Database | str | None, cfg: FrontierConfig,
                 chosen: tuple[Recipe, ...] | None = None, *,
                 data_path: str | None = None, workers: int = 1,
                 note: Callable[[str], None] = print) -> FrontierResult:
    """Train every recipe on the prefiltered cells (cached runs are reused) and return the
    frontier: one point per recipe plus the ensemble's own point, at zero training cost.
    ``chosen``: the recipes to train (default: every recipe of ``experiments/frontier.toml``)."""
    chosen = recipes() if chosen is None else chosen
    stored = read_scores(cfg.scores)
    top, rank_sum = ensemble_top(stored["scores"], cfg.top_fraction)
    space = get_space("nb201")
    published = load_nb201().accuracy(cfg.metric)  # read only to judge, never to choose
    truth = {c: published[space.parse(c).id] for c in stored["scores"][ENSEMBLE[0]]}
    sample = ensemble_vs_members(stored["scores"], truth, cfg)
    note(f"{len(top)} cells: the top {cfg.top_fraction:.0%} of {len(rank_sum)} by the "
         f"zero-cost rank sum of {'+'.join(ENSEMBLE)}")
    zero_cost_s = sum(stored["seconds_per_cell"][m] for m in ENSEMBLE)
    points = [_point("zero-cost ensemble", top, rank_sum, truth, rank_sum, zero_cost_s, cfg)]
    points += [_point(f"{m}", top, stored["scores"][m], truth, rank_sum,
                      stored["seconds_per_cell"][m], cfg) for m in ENSEMBLE]
    for n in sorted({r.cells for r in chosen if r.cells and r.cells < len(top)}):
        points.append(_point(f"zero-cost ensemble, first {n} cells", top[:n], rank_sum, truth,
                             rank_sum, zero_cost_s, cfg))  # the baseline of shorter recipes
    db = db if isinstance(db, Database) else Database(db)
    finals: list[RecipeFinal] = []
    datasets: dict[int | None, tuple] = {}  # by resolution: recipes share the decoded split
    for rec in chosen:
        cells = top[:rec.cells] if rec.cells else top
        if rec.resize not in datasets:
            data = api.load_data(DataConfig(path=str(resolve_data_path(data_path)),
                                            resize=rec.resize, per_class=cfg.per_class,
                                            test_per_class=cfg.test_per_class))
            datasets[rec.resize] = data, api.register_dataset(db, data)
        data, dataset = datasets[rec.resize]
        seed = cfg.seed if rec.seed is None else rec.seed
        proxy = api.build_proxy(db, data, dataset, rec.method, ipc=rec.ipc, seed=seed,
                                options=rec.options)
        plan = api.EvaluationPlan("nb201", cells, TrainConfig(**rec.train), seed=seed)
        runs = api.evaluate_architectures(db, data, dataset, proxy, plan, workers=workers)
        cpu = (sum(r.wall_seconds for r in runs) + proxy.build_seconds) / len(cells)
        for score_name in ("final-val", *CURVE_POINTS):  # the same runs, read other ways
            if score_name in VAL_CURVE and not all(_val_points(r) > 1 for r in runs):
                continue  # one validation point (a 1-epoch run, or stored before curves
                # kept more): the score would be the final accuracy again
            score = {c: _score(r, score_name, data.num_classes)
                     for c, r in zip(cells, runs, strict=True)}
            if any(v is None for v in score.values()):
                continue  # runs stored before curves were kept
            score = undefined_last(score)  # diverged runs last
            name = rec.label if score_name == "final-val" else f"{rec.label} [{score_name}]"
            point = replace(_point(name, cells, score, truth, rank_sum, cpu, cfg),
                            **with_ensemble(score, rank_sum, truth, cfg),
                            recipe_config=asdict(rec), score=score_name)
            note(f"{name}: rho {point.spearman:.3f}, minus ensemble "
                 f"{point.minus_ensemble:+.3f}, {cpu:.1f} CPU-s per cell")
            points.append(point)
            if score_name == "final-val":
                finals.append(RecipeFinal(rec, seed, score, cpu))
    seeds, seed_points = seed_agreement(finals, truth, rank_sum, cfg)
    return FrontierResult(config=asdict(cfg), machine=machine(), cells=top, sample=sample,
                          points=points + seed_points, seed_agreement=seeds)


def seed_agreement(finals: list[RecipeFinal], truth: dict[str, float],
                   rank_sum: dict[str, float], cfg: FrontierConfig
                   ) -> tuple[list[SeedAgreement], list[Point]]:
    """For recipes that differ only in their seed: how well two seeds rank the common cells
    alike (the recipe's own repeatability, a ceiling on how well it can track any truth), and
    one more point ranking by the mean of their final validation accuracies (costs summed)."""
    groups: dict[str, list[RecipeFinal]] = {}
    for final in finals:
        protocol = json.dumps(asdict(replace(final.recipe, name="", seed=None)), sort_keys=True)
        groups.setdefault(protocol, []).append(final)
    rows, points = [], []
    for group in (g for g in groups.values() if len(g) > 1):
        cells = [c for c in group[0].score if all(c in g.score for g in group)]
        a, b = ([g.score[c] for c in cells] for g in group[:2])
        label = group[0].recipe.label
        rows.append(SeedAgreement(label, (group[0].seed, group[1].seed), len(cells),
                                  metrics.spearman(a, b),
                                  metrics.bootstrap_ci(a, b, n_resamples=cfg.n_resamples,
                                                       seed=cfg.seed)))
        mean = {c: sum(g.score[c] for g in group) / len(group) for c in cells}
        cost = sum(g.cpu_seconds_per_cell for g in group)
        points.append(replace(_point(f"{label}, mean of {len(group)} seeds", cells, mean, truth,
                                     rank_sum, cost, cfg),
                              **with_ensemble(mean, rank_sum, truth, cfg), score="final-val"))
    return rows, points


def markdown(result: FrontierResult) -> str:
    rows = ["The ensemble against its members over every sampled cell (an undefined score ranks "
            "last); the prefilter's top is taken among the cells every member scored.", "",
            "| source | cells | Spearman | ensemble minus it [95% CI] |", "|---|---|---|---|"]
    for r in result.sample:
        lo, hi = r.ensemble_minus_ci or (0.0, 0.0)
        rows.append(f"| {r.source} | {r.cells} | {r.spearman:.3f} | "
                    f"{r.ensemble_minus or 0.0:+.3f} [{lo:+.3f}, {hi:+.3f}] |")
    rows += ["", "| recipe | cells | CPU-s per cell | Spearman [95% CI] | minus ensemble "
             "[95% CI] | selected cell (published acc, rank) | ensemble + it (rank sum): "
             "Spearman, minus ensemble [95% CI] |", "|---|---|---|---|---|---|---|"]
    for p in result.points:
        lo, hi = p.spearman_ci
        dlo, dhi = p.minus_ensemble_ci
        rows.append(f"| {p.recipe} | {p.cells} | {p.cpu_seconds_per_cell:.3g} | "
                    f"{p.spearman:.2f} [{lo:.2f}, {hi:.2f}] | {p.minus_ensemble:+.2f} "
                    f"[{dlo:+.2f}, {dhi:+.2f}] | {p.selected} ({p.selected_acc:.2f}, "
                    f"{p.selected_rank}/{p.cells}) | {_with_ensemble_cell(p)} |")
    if result.seed_agreement:
        rows += ["", "| recipe | seeds | cells | Spearman between the seeds' rankings [95% CI] |",
                 "|---|---|---|---|"]
        for r in result.seed_agreement:
            lo, hi = r.spearman_ci
            rows.append(f"| {r.recipe} | {r.seeds[0]} vs {r.seeds[1]} | {r.cells} "
                        f"| {r.spearman:.2f} [{lo:.2f}, {hi:.2f}] |")
    return "\n".join(rows) + "\n"


def _with_ensemble_cell(point: Point) -> str:
    if point.with_ensemble_spearman is None:
        return "–"
    lo, hi = point.with_ensemble_minus_ensemble_ci
    return (f"{point.with_ensemble_spearman:.2f}, {point.with_ensemble_minus_ensemble:+.2f} "
            f"[{lo:+.2f}, {hi:+.2f}]")


def plot(result: FrontierResult, path: Path) -> Path:
    """Spearman inside the prefilter's top against CPU-seconds per cell (log x): one filled
    point per zero-cost score and per recipe's final validation accuracy (its curve scores
    are in the table), a hollow one for the recipe ranked together with the ensemble."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [p for p in result.points if (p.score or "final-val") == "final-val"]
    colours = plt.get_cmap("tab20").colors
    fig, ax = plt.subplots(figsize=(10, 4.8), constrained_layout=True)
    for i, p in enumerate(shown):
        lo, hi = p.spearman_ci
        x = max(p.cpu_seconds_per_cell, 1e-6)
        colour = colours[i % len(colours)]
        ax.errorbar([x], [p.spearman], yerr=[[p.spearman - lo], [hi - p.spearman]],
                    fmt="o", capsize=3, color=colour, label=f"{p.recipe} ({p.cells})")
        if p.with_ensemble_spearman is not None:
            ax.plot([x], [p.with_ensemble_spearman], "o", mfc="none", color=colour)
    ensemble = result.points[0]
    ax.axhline(ensemble.spearman, color="grey", ls="--", lw=0.8)
    ax.axhline(0, color="grey", lw=0.8)
    ax.plot([], [], "o", mfc="none", color="grey", label="hollow: the recipe + the ensemble "
            "(rank sum)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_xscale("log")
    ax.set_xlabel("CPU-seconds per cell (training + proxy build, or zero-cost scoring)")
    ax.set_ylabel("Spearman vs published accuracy\ninside the prefilter's top (cells)")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
