"""Tables generated from the results' JSON, so each number has one source.

A markdown file shows a generated table between ``<!-- generated:NAME -->`` and
``<!-- /generated -->``; ``BLOCKS[NAME]`` renders it from the files in ``benchmarks/results/``.
``nas bench tables`` rewrites every block of ``FILES``; ``nas bench tables --check`` (run by
the test suite) names each block whose text differs from its source, so a number edited by
hand in a copy fails CI. Text outside the markers is hand-written and never touched.
"""

from __future__ import annotations

import json
import os
import re
import statistics
from collections.abc import Callable
from pathlib import Path

from nas.analysis import metrics
from nas.analysis.report_data import Report, SourceRow
from nas.bench import search_outcome, two_stage
from nas.bench.frontier import FrontierResult, Point
from nas.bench.two_stage import TwoStageResult
from nas.errors import InputError

RESULTS = Path("benchmarks/results")
FILES = ("README.md", "docs/nas-bench-201.md", "benchmarks/results/README.md")
BLOCK = re.compile(r"(<!-- generated:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated -->)",
                   re.DOTALL)
FRONTIER_BUDGET = 120.0  # CPU-s per cell: "affordable" on a 2-core machine (the README's bar)
PROXY_NAMES = {"random": "random", "dm": "DM", "dsa": "DSA", "cafe": "CAFE",
               "datadam": "DataDAM", "d2m": "D2M", "d3": "D3"}


D2M_ACCURACY = "d2m-accuracy-2026-12-07.json"
GENERATOR_FAMILIES = "generator-families-cvae6000-2026-12-03.json"  # random and DM rows
D2M_HEADLINE = {  # the README's name -> the row of D2M_ACCURACY
    "D2M on the fly": "d2m-fly, latent bank, cvae KL weight 0.01",
    "real images on the fly": "random-fly: real images on the fly",
    "D2M fixed set": "d2m, latent bank, cvae KL weight 0.01",
    "D2M as it was": "d2m, prior (as it was)",
}

Row = tuple[str, str, str, list[tuple[str, str]]]  # question, answer, machine, (text, path)


def _load(results: Path, name: str) -> dict:
    return json.loads((results / name).read_text())


UNRECORDED = "2-core AMD EPYC CPU (ISA not recorded)"  # results written before ``machine``


def describe(machine: dict) -> str:
    """``nas.core.runtime.machine()`` in words: GPU, else CPU model, cores and ISA flags."""
    cpu = f"{machine['cpu']}, {machine['cores']} cores, {'/'.join(machine['isa'] or ['?'])}"
    return f"{machine['gpu']} ({cpu})" if machine.get("gpu") else cpu


def _report(results: Path, name: str) -> Report:
    return Report.from_dict(_load(results, name))


def _devices(report: Report) -> str:
    """The machine a fidelity report recorded, else the devices its runs recorded (truth,
    proxies, zero-cost scores), which name no ISA."""
    if "machine" in report.environment:
        return describe(report.environment["machine"])
    found = list(report.ground_truth.protocol.get("devices") or [])
    for row in report.rows:
        found += (row.details.get("protocol") or {}).get("devices") or []
    devices = ", ".join(dict.fromkeys(d for d in found if d != "published"))
    return devices + ("; ISA not recorded" if "cpu" in devices else "")


def _machine(result: dict) -> str:
    return describe(result["machine"]) if "machine" in result else UNRECORDED


def _proxy_rhos(report: Report, digits: int) -> str:
    rows = [r for r in report.rows if r.kind == "proxy" and "+" not in r.name
            and "/" not in r.name]  # one row per method: no ELF rows, no second seeds
    rows.sort(key=lambda r: -r.metrics["spearman"])
    return ", ".join(f"{PROXY_NAMES.get(r.details['method'], r.details['method'])} "
                     f"{r.metrics['spearman']:.{digits}f}" for r in rows)


def _best_zero_cost(report: Report) -> SourceRow:
    return max((r for r in report.rows if r.kind == "zero-cost"),
               key=lambda r: r.metrics["spearman"])


def _ci(values, fmt: str = ".2f") -> str:
    lo, hi = values
    return f"[{lo:{fmt}}, {hi:{fmt}}]"


def _convnet_full(results: Path) -> Row:
    r = _report(results, "cpu-full.json")
    z = _best_zero_cost(r)
    return ("Do proxies rank 32 ConvNets like full training (truth: 20 epochs on all 45,000 "
            "images)?",
            f"Spearman {_proxy_rhos(r, 2)}; best zero-cost score "
            f"{z.metrics['spearman']:.2f} ({z.name})", _devices(r),
            [("cpu-full.md", "benchmarks/results/cpu-full.md")])


IPC50_TABLE = "cpu-full-ipc50.json"  # the D2M paper's NAS configuration on the cpu-full truth


def _convnet_ipc50(results: Path) -> Row:
    r = _report(results, IPC50_TABLE)
    return (f"At the D2M paper's NAS configuration (IPC 50, 200 epochs), same truth, "
            f"{len(r.architectures)} of those architectures?",
            f"Spearman {_proxy_rhos(r, 2)}", _devices(r),
            [("cpu-full-ipc50.md", "benchmarks/results/cpu-full-ipc50.md"),
             ("beside IPC 10", "benchmarks/results/README.md#cpu-full-ipc50-the-d2m-papers-nas-"
              "configuration")])


def _by_proxy(report: Report) -> dict[str, SourceRow]:
    """A report's proxy rows by their name without the IPC and the artifact a database with
    several names them by (``dm``, ``d2m+elf``)."""
    return {re.sub(r"-ipc\d+|\[artifact=\w+\]", "", r.name): r for r in report.rows
            if r.kind == "proxy"}


def _on(row: SourceRow, arch_ids: list[str]) -> dict:
    """``row``'s ranking metrics recomputed on ``arch_ids`` (those it scored)."""
    scored = {a.arch_id: a for a in row.architectures}
    kept = [scored[a] for a in arch_ids if a in scored]
    return metrics.fidelity([a.score for a in kept], [a.truth for a in kept])


def _rank_cells(m: dict | None) -> tuple[str, str, str]:
    """Spearman [95% CI], Kendall and the selected architecture's truth (regret) of ``m``."""
    if m is None:
        return "–", "–", "–"
    selected = m["selected"]
    return (f"{m['spearman']:.3f} {_ci(m['spearman_ci'])}", f"{m['kendall']:.3f}",
            f"{100 * selected['accuracy']:.1f}% ({100 * selected['regret']:.1f})")


def ipc50_beside_ipc10(results: Path, page: str) -> str:
    """Each proxy of the IPC-50 table beside its IPC-10 row recomputed on the same
    architectures (same truth), with its IPC-50 costs (``page`` unused)."""
    at10 = _by_proxy(_report(results, "cpu-full.json"))
    report = _report(results, IPC50_TABLE)
    lines = [f"| proxy ({len(report.architectures)} architectures) | Spearman IPC 10 [95% CI] | "
             "Spearman IPC 50 [95% CI] | Kendall 10 / 50 | selected: truth (regret), IPC 10 | "
             "IPC 50 | IPC 50: s per arch | build + pre-train s |",
             "|---|---|---|---|---|---|---|---|"]
    rows = _by_proxy(report)
    for name, row in rows.items():
        before = at10.get(name)
        rho10, tau10, sel10 = _rank_cells(before and _on(before, list(report.architectures)))
        rho50, tau50, sel50 = _rank_cells(row.metrics)
        costs = row.costs
        lines.append(f"| {name} | {rho10} | {rho50} | {tau10} / {tau50} | {sel10} | {sel50} | "
                     f"{costs['mean_proxy_seconds']:.0f} | "
                     f"{costs['build_seconds'] + costs['pretrain_seconds']:.0f} |")
    if {"d2m", "d2m-fly"} <= rows.keys():
        fixed = {a.arch_id: a.seconds for a in rows["d2m"].architectures}
        ratios = sorted(a.seconds / fixed[a.arch_id] for a in rows["d2m-fly"].architectures)
        lines += ["", f"d2m-fly's wall seconds per architecture over d2m's (its latency against "
                  f"the fixed set's): median {statistics.median(ratios):.2f}, "
                  f"{ratios[0]:.2f} to {ratios[-1]:.2f}."]
    return "\n".join(lines) + "\n"


def _convnet_cpu(results: Path) -> Row:
    r = _report(results, "cpu-paper-table.json")
    return ("The same proxies built on the CPU, truth 15 epochs on 4,500 images",
            _proxy_rhos(r, 3), _devices(r),
            [("cpu-paper-table.md", "benchmarks/results/cpu-paper-table.md")])


def _nb201_cpu(results: Path) -> Row:
    r = _report(results, "nb201-cpu.json")
    proxies = [x.metrics["spearman"] for x in r.rows if x.kind == "proxy"]
    params = next(x for x in r.rows if x.name == "params").metrics
    return (f"Do they rank {len(r.architectures)} NAS-Bench-201 cells (truth: published "
            "accuracies)?",
            f"every data proxy {min(proxies):.2f} to {max(proxies):.2f}; #params "
            f"{params['spearman']:.2f} {_ci(params['spearman_ci'])}", _devices(r),
            [("nb201-cpu.md", "benchmarks/results/nb201-cpu.md")])


def _two_stage(results: Path) -> Row:
    nb, cn = (TwoStageResult.from_dict(_load(results, f"two-stage-{s}.json"))
              for s in ("nb201", "convnet720"))
    rows = {s: {r.source: r for r in x.rows} for s, x in (("nb", nb), ("cn", cn))}
    cal = nb.calibration
    proxy = rows["nb"]["proxy alone"]
    return (f"And on {nb.candidates} random NAS-Bench-201 cells; can a calibration tell "
            "which to trust?",
            f"Proxy {proxy.spearman:.2f} {_ci(proxy.spearman_ci)}, zero-cost ensemble "
            f"{rows['nb']['ensemble'].spearman:.2f}; the calibration (short full-data "
            f"training) sides with the {cal.regime} ({cal.proxy_rho:.2f} vs "
            f"{cal.ensemble_rho:.2f}); on convnet720 with the {cn.calibration.regime}: proxy "
            f"{rows['cn']['proxy alone'].spearman:.3f} vs ensemble "
            f"{rows['cn']['ensemble'].spearman:.3f}",
            describe(nb.machine) if nb.machine else UNRECORDED,
            [("two-stage-nb201.md", "benchmarks/results/two-stage-nb201.md"),
             ("its runs", "benchmarks/results/two-stage-nb201-runs.md"),
             ("convnet720", "benchmarks/results/two-stage-convnet720.md")])


def _frontier_result(results: Path) -> FrontierResult:
    return FrontierResult.from_dict(_load(results, "nb201-frontier.json"))


def frontier_points(result: FrontierResult) -> list[Point]:
    """Each recipe's point by its final validation accuracy (no curve scores, no means)."""
    return [p for p in result.points if p.recipe_config is not None and p.score == "final-val"]


def _frontier(results: Path) -> Row:
    r = _frontier_result(results)
    ensemble = r.points[0]
    affordable = [p for p in frontier_points(r) if p.cpu_seconds_per_cell <= FRONTIER_BUDGET]
    best = max(affordable, key=lambda p: p.spearman)
    baseline = next(p for p in r.points if p.recipe_config is None
                    and p.recipe.startswith("zero-cost ensemble") and p.cells == best.cells)
    above = [p for p in frontier_points(r) if p.minus_ensemble_ci[0] > 0]
    return (f"Inside the zero-cost ensemble's top {r.config['top_fraction']:.0%} of "
            f"{r.sample[0].cells:,} NAS-Bench-201 cells ({len(r.cells)}), does training rank "
            "them better than the ensemble?",
            f"{'Yes' if above else 'Not by any paired interval'}: ensemble "
            f"{ensemble.spearman:.2f} {_ci(ensemble.spearman_ci)}; the best recipe at "
            f"≤{FRONTIER_BUDGET:.0f} CPU-s per cell, {best.recipe} "
            f"({best.cpu_seconds_per_cell:.0f} CPU-s), {best.spearman:.2f} on "
            f"{best.cells} cells against the ensemble's {baseline.spearman:.2f} there "
            f"({best.minus_ensemble:+.2f} {_ci(best.minus_ensemble_ci, '+.2f')})",
            describe(r.machine) if r.machine else UNRECORDED,
            [("nb201-frontier.md", "benchmarks/results/nb201-frontier.md")])


def _search_outcome(results: Path) -> Row:
    r = _load(results, "nb201-search-outcome.json")
    rows = sorted(r["rows"], key=lambda x: -x["mean"])
    rea = r["anchors"][0]
    return (f"Does a search on a CPU return a top NAS-Bench-201 cell (published accuracy, "
            f"{r['config']['seeds']} seeds)?",
            "; ".join(f"{x['contender']}: {x['mean']:.2f} ± {x['sd']:.2f} % in "
                      f"{x['median_cpu_hours']:.2f} charged CPU-h" for x in rows)
            + f"; {rea['source'].split(' (')[0]} (published) {rea['mean']:.2f}",
            _machine(r) + ", under load",
            [("nb201-search-outcome.md", "benchmarks/results/nb201-search-outcome.md")])


def _zero_cost(results: Path) -> Row:
    r = _load(results, "nb201-zero-cost.json")
    target = next(iter(r["published"].values()))["target"]
    rho = {m: r["spearman"][m][target] for m in ("synflow", "grad_norm", "naswot")}
    pub = {m: r["published"][m]["rho"] for m in ("synflow", "grad_norm")}
    return (f"Do the zero-cost baselines match the literature "
            f"({r['spearman']['synflow']['n']:,} NAS-Bench-201 cells)?",
            f"synflow {rho['synflow']:.3f} (published {pub['synflow']:.3f}), grad_norm "
            f"{rho['grad_norm']:.3f} ({pub['grad_norm']:.3f}), NASWOT {rho['naswot']:.3f}",
            _machine(r),
            [("nb201-zero-cost.md", "benchmarks/results/nb201-zero-cost.md")])


def _percentages(runs: dict, ipc: int) -> list[float]:
    """Test accuracies in % of a source's runs (``"ipc{N}/seed{S}"`` keys) at ``ipc``, by seed."""
    return [100 * v["test_acc"] for k, v in sorted(runs.items()) if k.startswith(f"ipc{ipc}/")]


def _mean_accuracy(runs: dict, ipc: int) -> str:
    """Mean test accuracy in % over a source's seeds at ``ipc``, "–" if unmeasured."""
    values = _percentages(runs, ipc)
    return f"{statistics.mean(values):.1f}%" if values else "–"


def _family_runs(results: Path, source: str) -> dict:
    """A source's runs of ``GENERATOR_FAMILIES`` keyed like ``D2M_ACCURACY``'s."""
    families = _load(results, GENERATOR_FAMILIES)["accuracy"]
    return {k.split("/", 1)[1]: v for k, v in families.items() if k.startswith(source + "/")}


def _generators(results: Path) -> Row:
    r = _load(results, D2M_ACCURACY)
    cells = [(name, r["sources"][label]) for name, label in D2M_HEADLINE.items()]
    cells += [(name, _family_runs(results, source))
              for name, source in (("random real", "random"), ("DM", "dm"))]
    return ("How good are D2M's sets (ConvNet-3 test accuracy, IPC 10 / 50, 2 seeds)?",
            ", ".join(f"{name} {_mean_accuracy(runs, 10)} / {_mean_accuracy(runs, 50)}"
                      for name, runs in cells),
            describe(r["machine"]),
            [("D2M accuracy", "benchmarks/results/README.md#d2m-latent-bank-and-on-the-fly")])


def _speed(results: Path) -> Row:
    mixes = [_load(results, f"speed-mix-50ep-2026-12-03-bf16{s}.json") for s in ("", "-2")]
    single = _load(results, "speed-200ep-default-arch-2026-12-03-bf16.json")
    train = {r["trainer"]: r["train_seconds"] for r in single["runs"]}
    archs = mixes[0]["runs"][0]["architectures"]
    return (f"How fast does the toolkit train a NAS mix ({archs} architectures, 2 cores)?",
            f"{mixes[0]['ratio']:.2f}x and {mixes[1]['ratio']:.2f}x the architectures/hour of "
            f"a plain PyTorch loop (bf16); ConvNet-3 at protocol length "
            f"{train['reference'] / train['toolkit']:.2f}x",
            _machine(mixes[0]["environment"]) if "machine" in mixes[0]["environment"]
            else f"{mixes[0]['environment']['device']}, AVX512-BF16 (its runs used bf16)",
            [("speed", "benchmarks/results/README.md#speed")])


MEASURED: tuple[Callable[[Path], Row], ...] = (
    _convnet_full, _convnet_ipc50, _convnet_cpu, _nb201_cpu, _two_stage, _frontier,
    _search_outcome, _zero_cost, _generators, _speed)


def measured(results: Path, page: str) -> str:
    """The README's "What it measured": one row per result, every number read from its JSON,
    with the machine its runs recorded; links relative to ``page``'s directory."""
    lines = ["| question | answer | measured on | source |", "|---|---|---|---|"]
    for row in MEASURED:
        question, answer, machine, sources = row(results)
        links = ", ".join(f"[{text}]({_relative(path, page)})" for text, path in sources)
        lines.append(f"| {question} | {answer} | {machine} | {links} |")
    return "\n".join(lines) + "\n"


def _relative(path: str, page: str) -> str:
    """``path`` (from the repository root, maybe with ``#anchor``) as a link from ``page``."""
    file, _, anchor = path.partition("#")
    link = os.path.relpath(file, os.path.dirname(page) or ".")
    return link + (f"#{anchor}" if anchor else "")


def frontier_recipes(results: Path, page: str) -> str:
    """Each frontier recipe's final-validation point, cheapest first, and its seed agreement
    (``page`` unused: no links)."""
    r = _frontier_result(results)
    lines = ["| recipe (`--recipes` name) | cells | CPU-s per cell | Spearman [95% CI] | minus "
             "the ensemble [95% CI] |", "|---|---|---|---|---|"]
    for p in [r.points[0], *sorted(frontier_points(r), key=lambda p: p.cpu_seconds_per_cell)]:
        name = p.recipe + (f" (`{p.recipe_config['name']}`)" if p.recipe_config else "")
        lines.append(f"| {name} | {p.cells} | {p.cpu_seconds_per_cell:.3g} | "
                     f"{p.spearman:.2f} {_ci(p.spearman_ci)} | {p.minus_ensemble:+.2f} "
                     f"{_ci(p.minus_ensemble_ci, '+.2f')} |")
    lines += ["", "| recipe | seeds | cells | Spearman between the seeds' rankings [95% CI] |",
              "|---|---|---|---|"]
    lines += [f"| {x.recipe} | {x.seeds[0]} vs {x.seeds[1]} | {x.cells} | "
              f"{x.spearman:.2f} {_ci(x.spearman_ci)} |" for x in r.seed_agreement]
    return "\n".join(lines) + "\n"


def two_stage_tables(results: Path, page: str) -> str:
    """Each committed two-stage result's table, convnet720 first (``page`` unused)."""
    return "\n".join(two_stage.markdown(TwoStageResult.from_dict(
        _load(results, f"two-stage-{space}.json"))) for space in ("convnet720", "nb201"))


def search_outcomes(results: Path, page: str) -> str:
    """Each contender's returned-cell accuracy in the order it ran, paired with the row
    above by seed (``page`` unused)."""
    r = _load(results, "nb201-search-outcome.json")
    lines = ["| contender | mean ± sd (%) | minus the row above, paired by seed [95% CI] | "
             "median charged CPU-h |", "|---|---|---|---|"]
    for row, diff in zip(r["rows"], search_outcome.minus_previous(r["rows"]), strict=True):
        paired = "–" if diff is None else f"{diff[0]:+.2f} [{diff[1]:+.2f}, {diff[2]:+.2f}]"
        lines.append(f"| {row['contender']} | {row['mean']:.2f} ± {row['sd']:.2f} | {paired} | "
                     f"{row['median_cpu_hours']:.3f} |")
    return "\n".join(lines) + "\n"


def _accuracy_cells(runs: dict, ipc: int) -> str:
    """``a / b (mean)`` test accuracy in % over a source's seeds at ``ipc``, "–" if unmeasured."""
    values = _percentages(runs, ipc)
    if not values:
        return "–"
    return " / ".join(f"{v:.1f}" for v in values) + f" (**{statistics.mean(values):.1f}**)"


def d2m_accuracy(results: Path, page: str) -> str:
    """ConvNet-3 test accuracy of D2M's sets, fixed and on the fly, beside the random real
    subset and DM of the same split and protocol (``page`` unused)."""
    r = _load(results, D2M_ACCURACY)
    lines = ["| source | IPC 10, seeds 0 / 1 (mean) | IPC 50, seeds 0 / 1 (mean) | epochs "
             "trained at IPC 50 | pre-training + distillation wall s, seeds 0 / 1 |",
             "|---|---|---|---|---|"]
    for name, source in (("random real subset (2026-12-03)", "random"),
                         ("DM, 200 iterations (2026-12-03)", "dm")):
        runs = _family_runs(results, source)
        lines.append(f"| {name} | {_accuracy_cells(runs, 10)} | {_accuracy_cells(runs, 50)} "
                     "| 200 | – |")
    for name, runs in r["sources"].items():
        epochs = sorted({v["epochs"] for k, v in runs.items() if k.startswith("ipc50/")})
        lines.append(f"| {name} | {_accuracy_cells(runs, 10)} | {_accuracy_cells(runs, 50)} | "
                     f"{', '.join(map(str, epochs)) or '–'} | {_artifact_seconds(runs)} |")
    return "\n".join(lines) + "\n"


def _artifact_seconds(runs: dict) -> str:
    """``pre-train + distil`` seconds of the artifact each seed's runs sampled, "–" if none."""
    by_seed = {k.split("/")[1]: v for k, v in sorted(runs.items())}
    cells = [f"{v['pretrain_seconds']:.0f} + {v['distill_seconds']:.0f}"
             for v in by_seed.values() if "distill_seconds" in v]
    return " / ".join(cells) or "–"


BLOCKS: dict[str, Callable[[Path, str], str]] = {
    "measured": measured, "frontier-recipes": frontier_recipes, "two-stage": two_stage_tables,
    "search-outcome": search_outcomes, "d2m-accuracy": d2m_accuracy,
    "ipc50-beside-ipc10": ipc50_beside_ipc10}


def fill(text: str, results: Path, page: str) -> str:
    """``text`` (of ``page``, a path from the repository root) with every generated block
    re-rendered from ``results``.

    Raises:
        InputError: a block names no entry of ``BLOCKS``.
    """
    def render(match: re.Match) -> str:
        name = match["name"]
        if name not in BLOCKS:
            raise InputError(f"unknown generated block {name!r}; known: {', '.join(BLOCKS)}")
        return match[1] + BLOCKS[name](results, page) + match[4]

    return BLOCK.sub(render, text)


def stale(root: Path) -> list[str]:
    """``FILE: NAME`` for each block under ``root`` that differs from its source."""
    out = []
    for name in FILES:
        text = (root / name).read_text()
        fresh = {m["name"]: m["body"] for m in BLOCK.finditer(fill(text, root / RESULTS, name))}
        out += [f"{name}: {m['name']}" for m in BLOCK.finditer(text)
                if fresh[m["name"]] != m["body"]]
    return out


def write(root: Path) -> list[Path]:
    """Re-render every block of ``FILES`` under ``root``; returns the files that changed."""
    changed = []
    for name in FILES:
        path = root / name
        text = path.read_text()
        new = fill(text, root / RESULTS, name)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed
