"""Summarise proxy-recipe measurements on NAS-Bench-201 cells: one database per recipe
(`nas search --space nb201 ...` then `nas ground-truth --benchmark nb201`), each read back as
Spearman of the proxy-trained networks' validation (and test) accuracy against the published
accuracy, beside #params on the same cells, with paired bootstrap intervals.

    PYTHONPATH=. python benchmarks/nb201_recipe.py OUT.json NAME=DB_PATH[:CPU_SECONDS] ...

CPU_SECONDS: the search process's CPU time (its worker's), to give CPU-seconds per cell on a
shared machine where wall time measures the load, not the recipe.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from nas.analysis import metrics
from storage import Database, list_runs

RESAMPLES = 2000


def _runs(path: str) -> tuple[dict[str, dict], dict[str, float], dict]:
    db = Database(f"sqlite:///{path}")
    proxy, truth, train = {}, {}, {}
    for run in list_runs(db):
        if run.proxy_id is None:
            truth[run.arch_id] = run.test_acc
        elif run.status == "finished":
            proxy[run.arch_id] = {"val": run.val_acc, "test": run.test_acc,
                                  "params": run.num_params, "seconds": run.wall_seconds}
            train = run.config["train"]
    return proxy, truth, train


def _rho(x, y) -> dict:
    lo, hi = metrics.bootstrap_ci(x, y, n_resamples=RESAMPLES)
    return {"rho": metrics.spearman(x, y), "ci": [lo, hi]}


def _versus_params(scores, params, truth) -> dict:
    d = metrics.paired_spearman_difference(scores, params, truth, n_resamples=RESAMPLES)
    return {"difference": d.difference, "ci": [d.low, d.high]}


def summarise(recipes: dict[str, tuple[str, float | None]]) -> dict:
    loaded = {name: _runs(path) for name, (path, _) in recipes.items()}
    common = sorted(set.intersection(*(set(p) & set(t) for p, t, _ in loaded.values())))
    out = {"common_cells": len(common), "recipes": {}}
    for name, (proxy, truth, train) in loaded.items():
        cells = sorted(set(proxy) & set(truth))
        val = [proxy[a]["val"] for a in cells]
        test = [proxy[a]["test"] for a in cells]
        params = [proxy[a]["params"] for a in cells]
        y = [truth[a] for a in cells]
        cpu = recipes[name][1]
        yc = [truth[a] for a in common]
        vc = [proxy[a]["val"] for a in common]
        pc = [proxy[a]["params"] for a in common]
        out["recipes"][name] = {
            "train": train, "cells": len(cells),
            "val": _rho(val, y), "test": _rho(test, y), "params": _rho(params, y),
            "val_minus_params": _versus_params(val, params, y),
            "mean_val_acc": float(np.mean(val)),
            "wall_seconds_per_cell": float(np.mean([proxy[a]["seconds"] for a in cells])),
            "cpu_seconds_per_cell": cpu / len(cells) if cpu else None,
            "common": {"val": _rho(vc, yc), "params": _rho(pc, yc),
                       "val_minus_params": _versus_params(vc, pc, yc)} if len(common) > 2
            else None}
    return out


def main(argv: list[str]) -> None:
    recipes = {}
    for item in argv[1:]:
        name, _, rest = item.partition("=")
        path, _, cpu = rest.partition(":")
        recipes[name] = (path, float(cpu) if cpu else None)
    result = summarise(recipes)
    Path(argv[0]).write_text(json.dumps(result, indent=1))
    for name, r in result["recipes"].items():
        c = r["common"] or {}
        print(f"{name}: cells {r['cells']} rho val {r['val']['rho']:.3f} {r['val']['ci']} "
              f"test {r['test']['rho']:.3f} params {r['params']['rho']:.3f} "
              f"val-params {r['val_minus_params']} acc {r['mean_val_acc']:.3f} "
              f"wall/cell {r['wall_seconds_per_cell']:.1f} cpu/cell {r['cpu_seconds_per_cell']} "
              f"common {c.get('val', {}).get('rho')}")


if __name__ == "__main__":
    main(sys.argv[1:])
