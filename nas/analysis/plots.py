"""Figures of a fidelity report (matplotlib, no display). Each function takes the
``Report`` of ``nas.analysis.report.build_report`` and returns a Figure; callers save it."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from nas.analysis.metrics import MIN_RANKED  # noqa: E402
from nas.analysis.report_data import Report, SourceRow  # noqa: E402

KIND_COLORS = {"proxy": "tab:blue", "zero-cost": "tab:gray"}


def _span_is_wide(values: np.ndarray) -> bool:
    return bool(values.min() > 0 and values.max() / values.min() > 100)


def scatter_grid(report: Report, columns: int = 3) -> Figure:
    """One panel per row, at most ``columns`` a line (fewer rows: that many, so the figure is
    as wide as its panels): proxy score vs full-data accuracy, the proxy's selected
    architecture marked with a red star and the truly best one ringed (cf. D2M Fig. 10)."""
    rows = report.rows
    columns = max(1, min(columns, len(rows)))
    n_rows = math.ceil(len(rows) / columns)
    fig, axes = plt.subplots(n_rows, columns, figsize=(4.2 * columns, 3.6 * n_rows),
                             squeeze=False, layout="constrained")
    truth_label = report.ground_truth.metric.replace("_acc", " accuracy")
    for ax, row in zip(axes.flat, rows, strict=False):
        x = np.array([a.score for a in row.architectures])
        y = np.array([a.truth for a in row.architectures])
        ax.scatter(x, y, s=18, color=KIND_COLORS[row.kind], alpha=0.75)
        chosen = row.metrics["selected"]["index"]
        best = int(np.argmax(y))
        ax.scatter(x[best], y[best], s=140, facecolors="none", edgecolors="tab:green",
                   linewidths=1.5, label="best")
        ax.scatter(x[chosen], y[chosen], s=160, marker="*", color="tab:red", label="selected")
        if row.kind == "zero-cost" and _span_is_wide(x):
            ax.set_xscale("log")
        rho = row.metrics["spearman"]
        ax.set_title(f"{row.name}  (ρ = {rho:.2f})" if rho == rho else row.name,
                     fontsize=10)
        ax.set_xlabel("proxy val accuracy" if row.kind == "proxy" else f"{row.name} score",
                      fontsize=9)
        ax.set_ylabel(f"full-data {truth_label}", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(rows):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8, loc="best")
    return fig


def spearman_with_ci(report: Report) -> Figure:
    """Spearman's rho of every row with its bootstrap 95% interval, best first."""
    rows = sorted(report.rows, key=lambda r: -_nan_low(r.metrics["spearman"]))
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(rows) + 1.4), layout="constrained")
    for i, row in enumerate(rows):
        rho = row.metrics["spearman"]
        low, high = row.metrics["spearman_ci"]
        color = KIND_COLORS[row.kind]
        if rho == rho:
            err = [[rho - low], [high - rho]] if low == low else None
            ax.errorbar(rho, i, xerr=err, fmt="o", color=color, capsize=4)
    _rho_axis(ax, rows, "Spearman ρ vs full-data accuracy (95% bootstrap CI)")
    return fig


def _rho_axis(ax, rows: list[SourceRow], xlabel: str) -> None:
    """One row name per tick, best first, on a [-1, 1] correlation axis with its zero line."""
    ax.set_yticks(range(len(rows)), [r.name for r in rows])
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)


def within_top(report: Report) -> Figure:
    """Spearman inside the truth's top and inside the prefilter's top K, per row, with
    bootstrap 95% intervals (rows in the order of the overall Spearman); a subset of fewer
    than ``MIN_RANKED`` architectures gets no point."""
    rows = sorted(report.rows, key=lambda r: -_nan_low(r.metrics["spearman"]))
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(rows) + 1.6), layout="constrained")
    for part, color, shift, label in (("truth_top", "tab:green", -0.15, "truth's top"),
                                      ("prefilter_top", "tab:purple", 0.15, "prefilter's top")):
        for i, row in enumerate(rows):
            w = row.metrics["within_top"].get(part)
            if w is None or w["spearman"] != w["spearman"] or w["n"] < MIN_RANKED:
                continue  # undefined, or too few architectures to say anything
            low, high = w["spearman_ci"]
            err = [[w["spearman"] - low], [high - w["spearman"]]] if low == low else None
            ax.errorbar(w["spearman"], i + shift, xerr=err, fmt="o", color=color, capsize=3,
                        label=label)
            label = None  # one legend entry per subset
    _rho_axis(ax, rows, "Spearman ρ inside the top (95% bootstrap CI)")
    if ax.get_legend_handles_labels()[0]:  # none when every subset was undefined
        ax.legend(loc="lower left", fontsize=8)
    return fig


def cost_vs_fidelity(report: Report) -> Figure:
    """Total ranking cost (build + every architecture) against Spearman's rho; the dashed
    line is the cost of ranking by full-data training."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    for row in report.rows:
        seconds = max(row.costs["total_proxy_seconds"], 1e-3)  # zero-cost: visible at 1 ms
        rho = row.metrics["spearman"]
        if rho != rho:
            continue
        ax.scatter(seconds, rho, color=KIND_COLORS[row.kind], s=40)
        ax.annotate(row.name, (seconds, rho), textcoords="offset points", xytext=(5, 4),
                    fontsize=8)
    full = report.ground_truth.total_seconds
    if full > 0:  # published ground truth cost nothing here: no line
        ax.axvline(full, color="tab:red", linestyle="--", linewidth=1)
        ax.annotate("full data", (full, 0.02), xycoords=("data", "axes fraction"), rotation=90,
                    fontsize=8, color="tab:red", xytext=(-10, 0), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("seconds to rank the architectures (log)")
    ax.set_ylabel("Spearman ρ")
    ax.grid(alpha=0.3)
    return fig


def pairwise_forest(report: Report) -> Figure:
    """Forest plot of the pairwise Spearman differences: one line per pair of sources
    ("a - b", a the better-ranked), the point the difference on their common
    architectures, the bar its paired bootstrap 95% interval, a zero line; pairs whose
    interval excludes zero are drawn dark, the others light."""
    pairs = report.pairwise
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * max(len(pairs), 1) + 1.5),
                           layout="constrained")
    ax.axvline(0, color="black", linewidth=0.9)
    for i, pair in enumerate(pairs):
        d, (low, high) = pair.difference, pair.ci
        if d is None or d != d:
            continue
        sure = pair.verdict != "none"
        color = "tab:blue" if sure else "tab:gray"
        err = ([[d - low], [high - d]] if low is not None and low == low
               and high is not None else None)
        ax.errorbar(d, i, xerr=err, fmt="o", color=color, ms=4, capsize=3,
                    alpha=1.0 if sure else 0.55)
    ax.set_yticks(range(len(pairs)), [f"{p.a} − {p.b} (n={p.n})" for p in pairs],
                  fontsize=8)
    ax.set_ylim(len(pairs) - 0.5 if pairs else 0.5, -0.5)
    if not pairs:
        ax.text(0.5, 0.5, "no two sources share 3 architectures", ha="center",
                transform=ax.transAxes)
    ax.set_xlim(-2.05, 2.05)
    ax.set_xlabel("ρ(a) − ρ(b) vs ground truth, paired bootstrap 95% CI "
                  "(blue: interval excludes 0)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _nan_low(value: float | None) -> float:
    return -math.inf if value is None or value != value else value


FIGURES = {"scatter": scatter_grid, "spearman": spearman_with_ci, "within_top": within_top,
           "pairwise": pairwise_forest, "cost": cost_vs_fidelity}
