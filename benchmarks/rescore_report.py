"""Score a finished fidelity report's sources against another ground truth, without training.

    python benchmarks/rescore_report.py REPORT.json TRUTH.csv [--metric test_acc] [--out F.md]

REPORT.json is a report's JSON (each row lists its per-architecture scores); TRUTH.csv a
`nas ground-truth --export` table of the same space (seeds averaged). Every row is scored
again with the report's own metrics (Spearman, Kendall, selected architecture, bootstrap
intervals) and every pair of rows with its paired Spearman difference, on the architectures
both tables hold; a zero-cost ensemble row (rank sum of params + synflow + NASWOT) is added
when the report holds those scores. Used to put the `cpu` preset's proxies against the
45,000-image truth.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scipy.stats import rankdata  # noqa: E402
from truth_agreement import accuracies, mean_over_seeds  # noqa: E402

from nas.analysis import metrics  # noqa: E402
from nas.analysis.report import ReportConfig, pairwise_differences  # noqa: E402

ENSEMBLE = ("params", "synflow", "naswot")  # the NAS-Bench-201 prefilter's members


def with_ensemble(rows: list[dict], members: tuple[str, ...] = ENSEMBLE) -> list[dict]:
    """``rows`` plus a zero-cost ensemble row: the sum of the members' ranks per
    architecture (ties averaged), over the architectures every member scored."""
    by_name = {r["name"]: {a["arch_id"]: a["score"] for a in r["architectures"]
                           if a["score"] is not None} for r in rows}
    if not all(m in by_name for m in members):
        return rows
    archs = sorted(set.intersection(*(set(by_name[m]) for m in members)))
    total = sum(rankdata([by_name[m][a] for a in archs]) for m in members)
    scores = [{"arch_id": a, "score": float(t)} for a, t in zip(archs, total, strict=True)]
    return [*rows, {"name": "ensemble(" + "+".join(members) + ")", "kind": "zero-cost",
                    "architectures": scores}]


def rescore(report: dict, truth: dict[str, float]) -> tuple[list[dict], list[dict]]:
    rows = []
    for row in with_ensemble(report["rows"]):
        archs = [{**a, "truth": truth[a["arch_id"]]} for a in row["architectures"]
                 if a["arch_id"] in truth and a["score"] is not None]
        scores, truths = [a["score"] for a in archs], [a["truth"] for a in archs]
        rows.append({"name": row["name"], "kind": row["kind"], "architectures": archs,
                     "metrics": metrics.fidelity(scores, truths)})
    return rows, pairwise_differences(rows, ReportConfig())


def markdown(rows: list[dict], pairs: list[dict], title: str) -> str:
    out = [f"# {title}", "",
           "| source | kind | n | Spearman [95% CI] | Kendall | selected (rank) |",
           "|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: -r["metrics"]["spearman"]):
        m = r["metrics"]
        lo, hi = m["spearman_ci"]
        sel = m["selected"]
        out.append(f"| {r['name']} | {r['kind']} | {m['n']} | {m['spearman']:.3f} "
                   f"[{lo:.2f}, {hi:.2f}] | {m['kendall']:.3f} | {sel['accuracy']:.3f} "
                   f"({sel['rank']}/{m['n']}) |")
    out += ["", "| a | b | n | ρ a − ρ b [95% CI] | verdict |", "|---|---|---|---|---|"]
    for p in pairs:
        lo, hi = p["ci"]
        verdict = {"a": f"{p['a']} better", "b": f"{p['b']} better"}.get(p["verdict"],
                                                                         "no difference")
        out.append(f"| {p['a']} | {p['b']} | {p['n']} | {p['difference']:+.3f} "
                   f"[{lo:+.3f}, {hi:+.3f}] | {verdict} |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("truth")
    parser.add_argument("--metric", default="test_acc", choices=["test_acc", "val_acc"])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    report = json.loads(Path(args.report).read_text())
    truth = mean_over_seeds(accuracies(args.truth, args.metric))
    rows, pairs = rescore(report, truth)
    text = markdown(rows, pairs, f"{Path(args.report).name} against {Path(args.truth).name}")
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
