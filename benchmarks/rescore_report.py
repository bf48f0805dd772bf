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
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scipy.stats import rankdata  # noqa: E402
from truth_agreement import accuracies, mean_over_seeds  # noqa: E402

from nas.analysis import metrics  # noqa: E402
from nas.analysis.report import ReportConfig, pairwise_differences  # noqa: E402
from nas.analysis.report_data import (  # noqa: E402
    ArchScore,
    PairedDifference,
    Report,
    SourceRow,
)

ENSEMBLE = ("params", "synflow", "naswot")  # the NAS-Bench-201 prefilter's members


Scores = tuple[str, str, dict[str, float]]  # a source's name, kind, score per architecture


def with_ensemble(rows: tuple[SourceRow, ...], members: tuple[str, ...] = ENSEMBLE
                  ) -> list[Scores]:
    """Each row's defined scores, plus a zero-cost ensemble: the sum of the members' ranks
    per architecture (ties averaged), over the architectures every member scored."""
    out = [(r.name, r.kind, {a.arch_id: a.score for a in r.architectures
                             if a.score is not None}) for r in rows]
    by_name = {name: scores for name, _, scores in out}
    if not all(m in by_name for m in members):
        return out
    archs = sorted(set.intersection(*(set(by_name[m]) for m in members)))
    total = sum(rankdata([by_name[m][a] for a in archs]) for m in members)
    return [*out, ("ensemble(" + "+".join(members) + ")", "zero-cost",
                   {a: float(t) for a, t in zip(archs, total, strict=True)})]


def rescore(report: Report, truth: dict[str, float]
            ) -> tuple[list[SourceRow], tuple[PairedDifference, ...]]:
    rows = []
    for name, kind, scores in with_ensemble(report.rows):
        archs = [a for a in scores if a in truth]
        x, y = [scores[a] for a in archs], [truth[a] for a in archs]
        rows.append(SourceRow(name=name, kind=kind, metrics=metrics.fidelity(x, y), costs={},
                              architectures=tuple(ArchScore(a, scores[a], truth[a])
                                                  for a in archs)))
    return rows, pairwise_differences(rows, ReportConfig())


def markdown(rows: list[SourceRow], pairs: tuple[PairedDifference, ...], title: str) -> str:
    out = [f"# {title}", "",
           "| source | kind | n | Spearman [95% CI] | Kendall | selected (rank) |",
           "|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: -r.metrics["spearman"]):
        m = r.metrics
        lo, hi = m["spearman_ci"]
        sel = m["selected"]
        out.append(f"| {r.name} | {r.kind} | {m['n']} | {m['spearman']:.3f} "
                   f"[{lo:.2f}, {hi:.2f}] | {m['kendall']:.3f} | {sel['accuracy']:.3f} "
                   f"({sel['rank']}/{m['n']}) |")
    out += ["", "| a | b | n | ρ a − ρ b [95% CI] | verdict |", "|---|---|---|---|---|"]
    for p in pairs:
        lo, hi = p.ci
        verdict = {"a": f"{p.a} better", "b": f"{p.b} better"}.get(p.verdict, "no difference")
        out.append(f"| {p.a} | {p.b} | {p.n} | {p.difference:+.3f} "
                   f"[{lo:+.3f}, {hi:+.3f}] | {verdict} |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("truth")
    parser.add_argument("--metric", default="test_acc", choices=["test_acc", "val_acc"])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    report = Report.from_json(Path(args.report).read_text())
    truth = mean_over_seeds(accuracies(args.truth, args.metric))
    rows, pairs = rescore(report, truth)
    text = markdown(rows, pairs, f"{Path(args.report).name} against {Path(args.truth).name}")
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
