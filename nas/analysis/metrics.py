"""Ranking-fidelity metrics of a proxy against ground truth: pure functions of arrays.

``proxy`` holds one score per architecture (a proxy's validation accuracy, or a zero-cost
score; higher = better), ``truth`` the same architectures' full-data accuracies, aligned by
index. Nothing here reads a database, writes a file or plots.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

Statistic = Callable[[np.ndarray, np.ndarray], float]
TOP_KS = (5, 10, 20)  # FTD (CVPR 2023) reports Spearman over the top 5/10/20 architectures
TOP_FRACTION = 0.05  # top 5% of the architectures, beside the fixed top-5/10/20
# fewest architectures a rank correlation can say anything about: on 4, even a perfect
# ranking has an exact two-sided p of 2/4! = 0.083 (Spearman and Kendall alike), on 5 it is
# 2/5! = 0.017; reports show fewer as "too few architectures", not as numbers
MIN_RANKED = 5


def _pair(proxy: Sequence[float], truth: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(proxy, dtype=float), np.asarray(truth, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"proxy and truth must be 1-D and of equal length, got {x.shape} and "
                         f"{y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("proxy and truth must be finite; drop or replace missing scores first")
    return x, y


def _constant(a: np.ndarray) -> bool:
    return len(a) < 2 or bool(np.all(a == a[0]))


def spearman(proxy: Sequence[float], truth: Sequence[float]) -> float:
    """Spearman's rho (scipy; ties get average ranks); NaN when undefined (n < 2, constant)."""
    x, y = _pair(proxy, truth)
    if _constant(x) or _constant(y):
        return math.nan
    return float(stats.spearmanr(x, y).statistic)


def kendall(proxy: Sequence[float], truth: Sequence[float]) -> float:
    """Kendall's tau-b (scipy, tie-corrected); NaN when undefined (n < 2, constant)."""
    x, y = _pair(proxy, truth)
    if _constant(x) or _constant(y):
        return math.nan
    return float(stats.kendalltau(x, y).statistic)


def top_k_indices(values: Sequence[float], k: int) -> np.ndarray:
    """Indices of the ``k`` largest values, best first; ties keep the earlier index first."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    order = np.argsort(-np.asarray(values, dtype=float), kind="stable")
    return order[:k]


def top_fraction_k(n: int, fraction: float = TOP_FRACTION) -> int:
    """How many architectures the top ``fraction`` of ``n`` holds (at least one)."""
    return max(1, math.ceil(fraction * n))


def top_k_correlation(proxy: Sequence[float], truth: Sequence[float], k: int,
                      statistic: Statistic = spearman) -> float:
    """``statistic`` over the ``k`` architectures best by ``truth`` (the DC author's point:
    correlation over all architectures is dominated by poor ones). NaN when ``k`` exceeds
    the number of architectures or the subset is degenerate."""
    x, y = _pair(proxy, truth)
    if k > len(y):
        return math.nan
    idx = top_k_indices(y, k)
    return statistic(x[idx], y[idx])


def top_k_overlap(proxy: Sequence[float], truth: Sequence[float], k: int) -> float:
    """Fraction of the proxy's top ``k`` that are also in the ground truth's top ``k``."""
    x, y = _pair(proxy, truth)
    if k > len(y):
        return math.nan
    return len(set(top_k_indices(x, k)) & set(top_k_indices(y, k))) / k


def bootstrap_ci(proxy: Sequence[float], truth: Sequence[float], statistic: Statistic = spearman,
                 *, confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0
                 ) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic``, resampling architectures (pairs) with
    replacement from ``np.random.default_rng(seed)``. Resamples on which the statistic is
    undefined (e.g. all ties) are dropped; (NaN, NaN) when fewer than 3 architectures."""
    x, y = _pair(proxy, truth)
    if len(x) < 3:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_resamples, len(x)))
    values = np.array([statistic(x[i], y[i]) for i in idx])
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def within(proxy: Sequence[float], truth: Sequence[float], members: Sequence[int], *,
           n_resamples: int = 1000, seed: int = 0) -> dict:
    """How ``proxy`` ranks the architectures at positions ``members`` (e.g. the truth's top
    decile, or a prefilter's top K): n, Spearman and Kendall with bootstrap intervals over
    those architectures, and the regret of the proxy's pick among them."""
    x, y = _pair(proxy, truth)
    idx = np.asarray(members, dtype=int)
    xs, ys = x[idx], y[idx]
    pick = selection(xs, ys) if len(idx) else None
    return {"n": len(idx), "spearman": spearman(xs, ys),
            "spearman_ci": bootstrap_ci(xs, ys, spearman, n_resamples=n_resamples, seed=seed),
            "kendall": kendall(xs, ys),
            "kendall_ci": bootstrap_ci(xs, ys, kendall, n_resamples=n_resamples, seed=seed),
            "regret": pick.regret if pick else math.nan}


@dataclass(frozen=True)
class Selection:
    """What a proxy picks: the architecture with the best proxy score."""

    index: int  # position of the chosen architecture (first one on ties)
    accuracy: float  # its ground-truth accuracy
    best: float  # best ground-truth accuracy among the architectures
    regret: float  # best - accuracy (>= 0)
    rank: int  # 1 = the chosen architecture is the truly best one


def selection(proxy: Sequence[float], truth: Sequence[float]) -> Selection:
    """The proxy's choice (argmax of ``proxy``) judged by ``truth``."""
    x, y = _pair(proxy, truth)
    if len(x) == 0:
        raise ValueError("no architectures to select from")
    chosen = int(np.argmax(x))
    ranks = stats.rankdata(-y, method="min")
    best = float(y.max())
    return Selection(chosen, float(y[chosen]), best, best - float(y[chosen]),
                     int(ranks[chosen]))


@dataclass(frozen=True)
class Costs:
    """Wall-clock cost of ranking with a proxy vs with full-data training (seconds)."""

    build_seconds: float  # making the proxy (distillation; 0 for zero-cost scores)
    pretrain_seconds: float  # pre-training the generator the proxy came from (0: none)
    mean_proxy_seconds: float  # per architecture, on the proxy
    mean_full_seconds: float  # per architecture, on the full data
    total_proxy_seconds: float  # pre-training + build + every architecture on the proxy
    total_full_seconds: float  # every architecture on the full data
    speedup: float  # total_full / total_proxy
    speedup_without_pretrain: float  # total_full / (total_proxy - pretrain): D2M's convention


def costs(build_seconds: float, proxy_seconds: Sequence[float],
          full_seconds: Sequence[float], pretrain_seconds: float = 0.0) -> Costs:
    """Cost summary; ``proxy_seconds`` and ``full_seconds`` are per-architecture times of the
    same architectures; ``pretrain_seconds`` is the pre-training a generated proxy reuses."""
    p, f = np.asarray(proxy_seconds, dtype=float), np.asarray(full_seconds, dtype=float)
    if len(p) == 0 or len(p) != len(f):
        raise ValueError("proxy_seconds and full_seconds must be non-empty and of equal length")
    without_pretrain = build_seconds + float(p.sum())
    total_proxy = pretrain_seconds + without_pretrain
    total_full = float(f.sum())
    return Costs(build_seconds, pretrain_seconds, float(p.mean()), float(f.mean()), total_proxy,
                 total_full, _ratio(total_full, total_proxy),
                 _ratio(total_full, without_pretrain))


def _ratio(full: float, proxy: float) -> float:
    return full / proxy if proxy > 0 else math.inf


def fidelity(proxy: Sequence[float], truth: Sequence[float], *, ks: Sequence[int] = TOP_KS,
             top_fraction: float = TOP_FRACTION, n_resamples: int = 1000, seed: int = 0
             ) -> dict:
    """Every ranking metric of one proxy as a JSON-ready dict (NaN where undefined).

    Keys: n, spearman, spearman_ci, kendall, kendall_ci, top_k (per k: spearman, kendall,
    overlap; k = each of ``ks`` and ``top{fraction}%``), selected (Selection fields).
    """
    x, y = _pair(proxy, truth)
    k_frac = top_fraction_k(len(y), top_fraction)
    named = {str(k): k for k in ks} | {f"top{round(100 * top_fraction)}%": k_frac}
    return {
        "n": len(x),
        "spearman": spearman(x, y),
        "spearman_ci": bootstrap_ci(x, y, spearman, n_resamples=n_resamples, seed=seed),
        "kendall": kendall(x, y),
        "kendall_ci": bootstrap_ci(x, y, kendall, n_resamples=n_resamples, seed=seed),
        "top_k": {name: {"k": k, "spearman": top_k_correlation(x, y, k, spearman),
                         "kendall": top_k_correlation(x, y, k, kendall),
                         "overlap": top_k_overlap(x, y, k)}
                  for name, k in named.items()},
        "selected": asdict(selection(x, y)),
    }


def rowwise_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of every row of ``x`` with the same row of ``y`` (2-D, equal shapes),
    as scipy computes it (Pearson of average ranks), in one vectorised pass; NaN for rows
    where either side is constant. Used by the bootstraps, where a Python loop over scipy
    calls dominated a report's time."""
    rx = stats.rankdata(x, axis=1)
    ry = stats.rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    sx, sy = (rx * rx).sum(axis=1), (ry * ry).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (rx * ry).sum(axis=1) / np.sqrt(sx * sy)
    rho[(sx == 0) | (sy == 0)] = np.nan
    return np.clip(rho, -1.0, 1.0)


@dataclass(frozen=True)
class PairedDifference:
    """Spearman(a, truth) - Spearman(b, truth) on the same architectures, with a paired
    percentile bootstrap interval."""

    difference: float
    low: float
    high: float
    rho_a: float
    rho_b: float
    n: int
    resamples_used: int  # resamples on which both correlations were defined


def paired_spearman_difference(a: Sequence[float], b: Sequence[float], truth: Sequence[float],
                               *, confidence: float = 0.95, n_resamples: int = 1000,
                               seed: int = 0) -> PairedDifference:
    """Compare two sources scored on the same architectures (aligned by index): each resample
    draws architectures with replacement once (``np.random.default_rng(seed)``) and applies
    the same draw to both sources, so what the two share (the architectures) cancels out of
    the interval. Resamples where either rho is undefined are dropped; NaN bounds when fewer
    than 3 architectures.

    Raises:
        ValueError: inputs of unequal length or with non-finite values.
    """
    x, y = _pair(a, truth)
    z, _ = _pair(b, truth)
    rho_a, rho_b = spearman(x, y), spearman(z, y)
    if len(x) < 3:
        return PairedDifference(rho_a - rho_b, math.nan, math.nan, rho_a, rho_b, len(x), 0)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_resamples, len(x)))
    deltas = rowwise_spearman(x[idx], y[idx]) - rowwise_spearman(z[idx], y[idx])
    deltas = deltas[np.isfinite(deltas)]
    if len(deltas) == 0:
        return PairedDifference(rho_a - rho_b, math.nan, math.nan, rho_a, rho_b, len(x), 0)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return PairedDifference(rho_a - rho_b, float(low), float(high), rho_a, rho_b, len(x),
                            len(deltas))
