"""Tabulate the dataset-condensation authors' DM against the toolkit's DM: ConvNet-3 test
accuracy of every set and training seed (from the database), and both sets' Spearman with their
paired difference (from a ``nas report`` JSON).

    PYTHONPATH=. python benchmarks/authors_dm_table.py OUT.json OUT.md --db URL \
        --report REPORT.json [--resize 16] [--per-class 500] [--test-per-class 100]

The authors' sets are the ones imported as ``authors-dm-ipc<IPC>-s<SEED>`` (made by
``benchmarks/authors_dm.py --ipc IPC --seed SEED``); the toolkit's are its ``dm`` sets
(``nas distill --method dm --seed SEED``). Accuracy runs: ``d3-w128-relu-instance-avg``
trained ``--epochs`` on each set; a pair is the same IPC, set seed and training seed.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from statistics import mean, stdev

from scipy import stats

from nas import api
from nas.core.data import DataConfig, resolve_data_path
from nas.core.data.source import portable_path
from nas.core.runtime import machine
from storage import Database, list_proxy_records, list_runs

CONVNET3 = "d3-w128-relu-instance-avg"
AUTHORS = re.compile(r"authors-dm-ipc(?P<ipc>\d+)-s(?P<seed>\d+)")


def accuracy_rows(db: Database, dataset_id: int, epochs: int) -> list[dict]:
    """One row per ConvNet-3 run of ``epochs`` on a DM set of either code."""
    sets = {}
    for proxy in list_proxy_records(db, dataset_id):
        named = AUTHORS.fullmatch(proxy.method)
        if named:
            sets[proxy.id] = ("authors", int(named["ipc"]), int(named["seed"]))
        elif proxy.method == "dm":
            sets[proxy.id] = ("toolkit", proxy.ipc, proxy.seed)
    rows = []
    for run in list_runs(db, dataset_id=dataset_id):
        if run.proxy_id in sets and run.arch_id == CONVNET3 and run.epochs == epochs:
            code, ipc, seed = sets[run.proxy_id]
            rows.append({"code": code, "ipc": ipc, "set_seed": seed, "train_seed": run.seed,
                         "test_acc": run.test_acc, "val_acc": run.val_acc,
                         "train_seconds": round(run.wall_seconds, 1), "status": run.status})
    return sorted(rows, key=lambda r: (r["ipc"], r["set_seed"], r["train_seed"], r["code"]))


def t_interval(values: list[float], level: float = 0.95) -> list[float] | None:
    """Student-t interval of the mean of ``values`` (None below two values)."""
    if len(values) < 2:
        return None
    half = stats.t.ppf((1 + level) / 2, len(values) - 1) * stdev(values) / len(values) ** 0.5
    return [mean(values) - half, mean(values) + half]


def paired(rows: list[dict]) -> list[dict]:
    """Per IPC: each code's runs and mean, and authors minus toolkit on matching seeds with
    the t interval of its mean (pairs sharing a set are not independent: a rough guide)."""
    out = []
    for ipc in sorted({r["ipc"] for r in rows}):
        acc = {code: {(r["set_seed"], r["train_seed"]): r["test_acc"] for r in rows
                      if r["ipc"] == ipc and r["code"] == code}
               for code in ("authors", "toolkit")}
        both = sorted(set(acc["authors"]) & set(acc["toolkit"]))
        diffs = [acc["authors"][k] - acc["toolkit"][k] for k in both]
        out.append({"ipc": ipc, "pairs": [list(k) for k in both],
                    "authors": [acc["authors"][k] for k in both],
                    "toolkit": [acc["toolkit"][k] for k in both],
                    "authors_mean": mean(acc["authors"][k] for k in both) if both else None,
                    "toolkit_mean": mean(acc["toolkit"][k] for k in both) if both else None,
                    "differences": diffs, "difference_mean": mean(diffs) if diffs else None,
                    "difference_ci": t_interval(diffs)})
    return out


def ranking(report: dict) -> dict:
    """The two DM rows of a fidelity report and their pairwise difference, authors minus
    toolkit (the report orders a pair better-ranked first)."""
    rows = {r["name"]: r for r in report["rows"] if r["kind"] == "proxy"}
    authors = next(name for name in rows if rows[name]["method"].startswith("authors-dm"))
    toolkit = next(name for name in rows if rows[name]["method"] == "dm")
    pair = next(p for p in report["pairwise"] if {p["a"], p["b"]} == {authors, toolkit})
    sign = 1 if pair["a"] == authors else -1
    low, high = (sign * v for v in pair["ci"])
    common = {pair["a"]: pair["rho_a"], pair["b"]: pair["rho_b"]}
    config = report["dataset"]["config"]
    config = {**config, "path": portable_path(config["path"])}
    return {"authors": authors, "toolkit": toolkit, "n": pair["n"],
            "spearman": {name: {"n": rows[name]["metrics"]["n"],
                                "rho": rows[name]["metrics"]["spearman"],
                                "ci": rows[name]["metrics"].get("spearman_ci"),
                                "rho_on_common": common[name]}
                         for name in (authors, toolkit)},
            "difference": sign * pair["difference"], "difference_ci": sorted([low, high]),
            "resamples": pair["resamples_used"], "truth": report["ground_truth"],
            "dataset": {"key": report["dataset"]["key"], "config": config}}


def markdown(result: dict) -> str:
    lines = ["# The authors' DM beside the toolkit's DM", "",
             f"ConvNet-3 (`{CONVNET3}`) test accuracy (%), {result['epochs']} epochs; a pair is "
             "one IPC, set seed and training seed; the mean difference with its 95% t "
             "interval over the pairs.", "",
             "| IPC | set seed, train seed | authors' DM | toolkit's DM | authors − toolkit |",
             "|---|---|---|---|---|"]
    for block in result["accuracy"]:
        for (s, t), a, b, d in zip(block["pairs"], block["authors"], block["toolkit"],
                                   block["differences"], strict=True):
            lines.append(f"| {block['ipc']} | {s}, {t} | {100 * a:.1f} | {100 * b:.1f} | "
                         f"{100 * d:+.1f} |")
        if block["pairs"]:
            ci = block["difference_ci"]
            lines.append(f"| {block['ipc']} | mean | {100 * block['authors_mean']:.1f} | "
                         f"{100 * block['toolkit_mean']:.1f} | "
                         f"{100 * block['difference_mean']:+.1f}"
                         + (f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else "") + " |")
    rank = result.get("ranking")
    if rank:
        lo, hi = rank["difference_ci"]
        lines += ["", "Ranking against the ground truth (Spearman of the proxy-trained "
                  "validation accuracy, 95% bootstrap interval; n: architectures trained on "
                  "the set):", "",
                  f"| set | n | Spearman [95% CI] | on the {rank['n']} both trained |",
                  "|---|---|---|---|"]
        for name, s in rank["spearman"].items():
            ci = s["ci"]
            lines.append(f"| {name} | {s['n']} | {s['rho']:.3f}"
                         + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
                         + f" | {s['rho_on_common']:.3f} |")
        lines += ["", f"Authors minus toolkit on those {rank['n']}: {rank['difference']:+.3f} "
                  f"[{lo:+.3f}, {hi:+.3f}] (paired bootstrap, {rank['resamples']} resamples)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json_out", type=Path)
    parser.add_argument("md_out", type=Path)
    parser.add_argument("--db", required=True)
    parser.add_argument("--report", type=Path, default=None, help="nas report's report.json")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--data", default=None)
    parser.add_argument("--resize", type=int, default=16)
    parser.add_argument("--per-class", type=int, default=500)
    parser.add_argument("--test-per-class", type=int, default=100)
    args = parser.parse_args()
    data = api.load_data(DataConfig(path=str(resolve_data_path(args.data)), resize=args.resize,
                                    per_class=args.per_class,
                                    test_per_class=args.test_per_class))
    db = Database(args.db)
    dataset = api.registered_dataset(db, data)
    rows = accuracy_rows(db, dataset.id, args.epochs)
    result = {"machine": machine(),
              "dataset": {"key": dataset.key, "config": data.config.to_dict()},
              "epochs": args.epochs, "runs": rows, "accuracy": paired(rows)}
    if args.report:
        result["ranking"] = ranking(json.loads(args.report.read_text()))
    args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    args.md_out.write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
