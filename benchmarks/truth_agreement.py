"""How two ground-truth tables of one space agree: the Spearman rank correlation between
their per-architecture accuracies (seeds averaged) and, within one table, between its seeds.

    python benchmarks/truth_agreement.py NEW.csv [OLD.csv] [--metric test_acc] [--table F.csv]

Reads the CSVs of ``nas ground-truth --export``; prints one line per comparison with the
number of shared architectures and a bootstrap 95% interval over architectures.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict

import numpy as np
from scipy import stats


def accuracies(path: str, metric: str) -> dict[int, dict[str, float]]:
    """seed -> architecture -> accuracy, finished runs only."""
    table: dict[int, dict[str, float]] = defaultdict(dict)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["status"] == "finished":
                table[int(row["seed"])][row["arch_id"]] = float(row[metric])
    return table


def mean_over_seeds(table: dict[int, dict[str, float]]) -> dict[str, float]:
    runs: dict[str, list[float]] = defaultdict(list)
    for by_arch in table.values():
        for arch, acc in by_arch.items():
            runs[arch].append(acc)
    return {arch: float(np.mean(accs)) for arch, accs in runs.items()}


def spearman(a: dict[str, float], b: dict[str, float], resamples: int = 10_000,
             seed: int = 0) -> tuple[int, float, tuple[float, float]]:
    """(shared architectures, Spearman rho, bootstrap 95% interval over architectures)."""
    shared = sorted(a.keys() & b.keys())
    x, y = np.array([a[k] for k in shared]), np.array([b[k] for k in shared])
    res = stats.bootstrap((x, y), lambda u, v: stats.spearmanr(u, v).statistic,
                          paired=True, vectorized=False, n_resamples=resamples,
                          method="percentile", random_state=seed)
    ci = res.confidence_interval
    return len(shared), float(stats.spearmanr(x, y).statistic), (ci.low, ci.high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("new")
    parser.add_argument("old", nargs="?")
    parser.add_argument("--metric", default="test_acc", choices=["test_acc", "val_acc"])
    parser.add_argument("--table", default=None,
                        help="write both truths side by side, one architecture a row")
    args = parser.parse_args()
    new = accuracies(args.new, args.metric)
    seeds = sorted(new)
    for i, s in enumerate(seeds):
        for t in seeds[i + 1:]:
            n, rho, (lo, hi) = spearman(new[s], new[t])
            print(f"{args.new}: seed {s} vs seed {t}: n={n} rho={rho:.3f} [{lo:.2f}, {hi:.2f}]")
    if args.old:
        old = accuracies(args.old, args.metric)
        n, rho, (lo, hi) = spearman(mean_over_seeds(new), mean_over_seeds(old))
        print(f"{args.new} vs {args.old}: n={n} rho={rho:.3f} [{lo:.2f}, {hi:.2f}]")
        if args.table:
            write_table(args.table, {"new": new, "old": old})


def write_table(path: str, tables: dict[str, dict[int, dict[str, float]]]) -> None:
    """One row per architecture: each table's accuracy per seed and mean, best new first."""
    columns = [(name, seed) for name, table in tables.items() for seed in sorted(table)]
    means = {name: mean_over_seeds(table) for name, table in tables.items()}
    archs = sorted(set.union(*(set(m) for m in means.values())),
                   key=lambda a: -means["new"].get(a, 0.0))
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch_id", *(f"{n}_seed{s}" for n, s in columns),
                         *(f"{n}_mean" for n in tables)])
        for arch in archs:
            writer.writerow([arch, *(tables[n][s].get(arch, "") for n, s in columns),
                             *(round(means[n][arch], 4) if arch in means[n] else ""
                               for n in tables)])


if __name__ == "__main__":
    main()
