"""Write a fidelity report as JSON (every number), Markdown and self-contained HTML, and
show its summary table in the terminal (rich)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib.pyplot as plt
from rich.table import Table

from nas.analysis.metrics import MIN_RANKED
from nas.analysis.plots import FIGURES
from nas.analysis.report_data import Report
from nas.core.data import portable_path
from nas.errors import InputError

COLUMNS = ("source", "kind", "n", "Spearman [95% CI]", "ρ test acc [95% CI]", "Kendall",
           "top-10 ρ", "top-{fraction} overlap", "selected acc (rank)", "regret", "stored values",
           "build s", "pre-train s", "s / arch", "total s", "speed-up")
CORRELATION_NOTE = ("Spearman: the source's score vs the ground truth; for a proxy the score is "
                    "the validation accuracy of the network trained on it (what a user ranks "
                    "by). ρ test acc: the same network's test accuracy vs the ground truth (the "
                    "correlation some papers report); zero-cost scores have only the first.")
COST_NOTE = ("build s: making the proxy set, with the artifact it was sampled from (D2M's "
             "generator refinement, D3's priors); pre-train s: pre-training the generator that "
             "artifact started from (a D2M GAN), reused by every IPC; s / arch: mean seconds "
             "per architecture on the proxy; total s: all three together (every "
             "architecture); speed-up: full-data total over total s, and without pre-training")
PAIR_COLUMNS = ("a", "b", "n", "ρ a", "ρ b", "ρ a − ρ b [95% CI]", "verdict")


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def _seconds(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def columns(report: Report) -> list[str]:
    """``COLUMNS`` with the report's top fraction (e.g. "top-10% overlap")."""
    fraction = next((k.removeprefix("top") for k in report.rows[0].metrics["top_k"]
                     if k.startswith("top")), "?") if report.rows else "?"
    return [c.format(fraction=fraction) for c in COLUMNS]


def summary_rows(report: Report) -> list[list[str]]:
    """One list of cell strings per row, in ``COLUMNS`` order."""
    out = []
    for row in report.rows:
        m, c = row.metrics, row.costs
        low, high = m["spearman_ci"]
        frac = next(v for k, v in m["top_k"].items() if k.startswith("top"))
        top10 = m["top_k"].get("10", {}).get("spearman")
        sel = m["selected"]
        test = row.metrics_test
        test_cell = (f"{_num(test['spearman'])} [{_num(test['spearman_ci'][0], 2)}, "
                     f"{_num(test['spearman_ci'][1], 2)}]" if test else "–")
        out.append([row.name, row.kind, str(m["n"]),
                    f"{_num(m['spearman'])} [{_num(low, 2)}, {_num(high, 2)}]", test_cell,
                    _num(m["kendall"]), _num(top10), _num(frac["overlap"], 2),
                    f"{_num(sel['accuracy'])} ({sel['rank']}/{m['n']})", _num(sel["regret"]),
                    f"{row.details['stored_values']:,}" if row.details.get("stored_values")
                    else "–",
                    _seconds(c["build_seconds"]),
                    _seconds(c["pretrain_seconds"]) if c["pretrain_seconds"] else "–",
                    _seconds(c["mean_proxy_seconds"]), _seconds(c["total_proxy_seconds"]),
                    _speedup(c)])
    return out


def _speedup(costs: dict) -> str:
    """Full-data total over the proxy's total, and without pre-training where there was
    some; "–" for published ground truth (it cost nothing here)."""
    if not costs["speedup"]:
        return "–"
    if not costs["pretrain_seconds"]:
        return f"{costs['speedup']:.1f}x"
    return f"{costs['speedup']:.1f}x ({costs['speedup_without_pretrain']:.1f}x w/o pre-train)"


def _signed(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:+.3f}"


def pair_rows(report: Report) -> list[list[str]]:
    """One list of cell strings per pair of sources, in ``PAIR_COLUMNS`` order."""
    out = []
    for p in report.pairwise:
        low, high = p.ci
        verdict = {"a": f"{p.a} better", "b": f"{p.b} better"}.get(
            p.verdict, "no difference at 95%")
        out.append([p.a, p.b, str(p.n), _num(p.rho_a), _num(p.rho_b),
                    f"{_signed(p.difference)} [{_signed(low)}, {_signed(high)}]", verdict])
    return out


WITHIN_COLUMNS = ("source", "truth top: n", "ρ [95% CI]", "τ", "regret",
                  "prefilter top: n", "ρ [95% CI]", "τ", "regret")


def within_caption(report: Report) -> str:
    info = report.within_top
    return (f"Inside the top: each source's ranking of the ground truth's top "
            f"{info.truth_fraction:.0%} (at least 3 architectures), and of the top K of the "
            f"prefilter {info.prefilter or '(none in this report)'} (K = "
            f"{info.prefilter_k or 'the same fraction'}), on the architectures the source "
            "scored; regret: best truth in the subset minus that of the source's pick there. "
            "Over all architectures a correlation is dominated by the poor ones; these say "
            "whether a source can choose among the good ones.")


def within_rows(report: Report) -> list[list[str]]:
    out = []
    for r in report.rows:
        cells = [r.name]
        for part in ("truth_top", "prefilter_top"):
            w = r.metrics["within_top"].get(part)
            if w is None:
                cells += ["–"] * 4
                continue
            if w["n"] < MIN_RANKED:  # a correlation on 3 points would print as certain
                cells += [str(w["n"]), f"too few architectures (n={w['n']})", "–", "–"]
                continue
            low, high = w["spearman_ci"]
            cells += [str(w["n"]), f"{_num(w['spearman'])} [{_num(low, 2)}, {_num(high, 2)}]",
                      _num(w["kendall"]), _num(w["regret"])]
        out.append(cells)
    return out


def rich_table(report: Report) -> Table:
    table = Table(*columns(report), title=f"{report.title}: dataset {report.dataset['key']}")
    for cells in summary_rows(report):
        table.add_row(*cells)
    return table


def _setup_lines(report: Report) -> list[str]:
    """What a reader needs to reproduce the numbers, one fact per line."""
    cfg, summ, gt = report.dataset["config"], report.dataset["summary"], report.ground_truth
    shape = "x".join(str(s) for s in summ["shape"])
    proxies = [r for r in report.rows if r.kind == "proxy"]
    lines = [
        f"Dataset: {portable_path(cfg['path'])} (key {report.dataset['key']}), images {shape}, "
        f"{len(summ['classes'])} classes; train {summ['train']} / val {summ['val']} / "
        f"test {summ['test']} (per class kept: {cfg['per_class'] or 'all'}, split seed "
        f"{cfg['split_seed']})",
        f"Architectures: {len(report.architectures)} of {report.space}{_sampling(report)}",
        f"Ground truth: {gt.metric} after {gt.epochs} epochs on the full training split, "
        f"seeds {gt.protocol['seeds']}, device {', '.join(gt.protocol['devices'])}; "
        f"best {_num(gt.best)}, {gt.diverged} diverged",
    ]
    if "published" in gt.protocol:  # not trained here: name who measured it
        pub = gt.protocol["published"]
        lines.append(f"Ground-truth source: {', '.join(gt.protocol['sources'])} "
                     f"({pub['metric']}), {pub['citation']}; table {pub['table']}")
    for row in proxies:
        r = row.details
        made_from = "".join(f"; from {p['kind']} {(p['hash'] or '')[:8]} ({_seconds(p['seconds'])}"
                            f" s on {p['device']})" for p in r.get("made_from", []))
        lines.append(f"Proxy {row.name}: {r['epochs']} epochs, seeds {r['protocol']['seeds']}, "
                     f"proxy seed {r['proxy_seed']}, options {r['options'] or '{}'}, built on "
                     f"{r['build_device']}{made_from}; {r['diverged']} diverged")
    zc = [r for r in report.rows if r.kind == "zero-cost"]
    if zc:
        lines.append(f"Zero-cost baselines: {', '.join(r.name for r in zc)}; config "
                     f"{zc[-1].details['protocol']['config']}")
    train = gt.protocol["train"]
    lines.append(f"Training protocol: SGD lr {train['lr']}, momentum {train['momentum']}, "
                 f"weight decay {train['weight_decay']}, batch {train['batch_size']}, "
                 f"augmentation {train['augment']}")
    lines.append("Scoring: " + "; ".join(f"{k}: {v}" for k, v in report.scoring.items()
                                           if k != "bootstrap")
                 + f"; 95% CI from {report.scoring['bootstrap']['resamples']} bootstrap "
                   "resamples of the architectures")
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in
                                          report.environment["versions"].items()))
    if report.preset is not None:
        lines.append(f"Preset: {json.dumps(report.preset)}")
    return lines


def _sampling(report: Report) -> str:
    preset = report.preset
    if not preset:
        return ""
    where = f", where {' '.join(preset['where'])}" if preset.get("where") else ""
    return f" (stratified sample, seed {preset['seed']}{where})"


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;font-size:14px;margin:1em 0}th,td{border:1px solid
#ccc;padding:4px 8px;text-align:right}th{background:#f2f2f2}td:first-child,td:nth-child(2)
{text-align:left}img{max-width:100%;display:block;margin:1em 0}li{margin:.2em 0}
.note{color:#555;font-size:13px}"""


CAPTIONS = {
    "scatter": ("Proxy score vs full-data accuracy",
                "One point per architecture. Red star: the architecture the proxy selects "
                "(best proxy score); green ring: the truly best architecture."),
    "spearman": ("Spearman's ρ per proxy",
                 "Point: Spearman's ρ over all architectures; bar: bootstrap 95% interval."),
    "within_top": ("Inside the top",
                   "Spearman's ρ inside the ground truth's top and inside the prefilter's top "
                   "K, with bootstrap 95% intervals; a missing point is undefined (ties)."),
    "pairwise": ("Which source ranks better: pairwise differences",
                 "One line per pair of sources (a the better-ranked): ρ(a) − ρ(b) on the "
                 "architectures both scored, with its paired bootstrap 95% interval. An "
                 "interval that crosses the zero line means the data cannot tell the two "
                 "apart."),
    "cost": ("Cost vs fidelity",
             "Seconds to rank every architecture (proxy build and generator pre-training "
             "included; zero-cost scores drawn at 1 ms or more) against Spearman's ρ; "
             "dashed: full-data training."),
}


def _architecture_table(report: Report) -> str:
    """Per-architecture numbers (ground truth and every row's score), folded away."""
    esc = html.escape
    scores = {r.name: {a.arch_id: a.score for a in r.architectures} for r in report.rows}
    truth = {a.arch_id: a.truth for r in report.rows for a in r.architectures}
    head = "".join(f"<th>{esc(n)}</th>" for n in ["architecture", "ground truth", *scores])
    body = "".join(
        f"<tr><td>{esc(a)}</td><td>{_num(truth[a])}</td>"
        + "".join(f"<td>{_num(s.get(a), 4 if max(map(abs, s.values()), default=0) < 100 else 0)}"
                  "</td>" for s in scores.values()) + "</tr>"
        for a in sorted(truth, key=lambda a: -truth[a]))
    return (f"<details><summary>Every architecture ({len(truth)}), best first</summary>"
            f"<table><tr>{head}</tr>{body}</table></details>")


def _section_html(title: str, header: tuple[str, ...], rows: list[list[str]],
                  note: str) -> str:
    """A headed HTML table with its note below."""
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>"
                   for cells in rows)
    return (f"<h2>{esc(title)}</h2><table><tr>{head}</tr>{body}</table>"
            f"<p class='note'>{esc(note)}</p>")


def _pair_html(report: Report) -> str:
    """The pairwise table, or nothing when the report has a single source (no pair)."""
    rows = pair_rows(report)
    return _section_html("Pairwise Spearman differences", PAIR_COLUMNS, rows,
                         CAPTIONS["pairwise"][1]) if rows else ""


def _within_html(report: Report) -> str:
    return _section_html("Inside the top", WITHIN_COLUMNS, within_rows(report),
                         within_caption(report))


def _html(report: Report, images: dict[str, bytes]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in columns(report))
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>"
                   for cells in summary_rows(report))
    setup = "".join(f"<li>{esc(line)}</li>" for line in _setup_lines(report))
    figures = "".join(
        f"<h2>{esc(heading)}</h2><img alt='{name}' "
        f"src='data:image/png;base64,{base64.b64encode(images[name]).decode()}'>"
        f"<p class='note'>{esc(caption)}</p>" for name, (heading, caption) in CAPTIONS.items()
        if name in images)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(report.title)}"
            f"</title><style>{_CSS}</style></head><body><h1>{esc(report.title)}</h1>"
            f"<p class='note'>Generated {esc(report.created_at)}. Every number is in "
            f"report.json.</p><table><tr>{head}</tr>{body}</table>"
            f"<p class='note'>selected acc: full-data accuracy of the architecture with the best "
            f"proxy score, and its true rank; regret: best minus selected; {esc(COST_NOTE)} "
            f"(full data: {_seconds(report.rows[0].costs['mean_full_seconds'])} s / arch)."
            f" {esc(CORRELATION_NOTE)}</p>{_within_html(report)}{_pair_html(report)}"
            f"<h2>Setup</h2><ul>{setup}</ul>{figures}{_architecture_table(report)}</body></html>")


def _markdown(report: Report, image_files: dict[str, str]) -> str:
    lines = [f"# {report.title}", "", f"Generated {report.created_at}; every number is in "
             "`report.json`.", "", "| " + " | ".join(columns(report)) + " |",
             "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in summary_rows(report)]
    lines += ["", COST_NOTE + ".", "", CORRELATION_NOTE, "", "## Inside the top", "",
              within_caption(report), "",
              "| " + " | ".join(WITHIN_COLUMNS) + " |", "|" + "---|" * len(WITHIN_COLUMNS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in within_rows(report)]
    pairs = pair_rows(report)
    if pairs:  # a one-source report has no pair to compare
        lines += ["", "## Pairwise Spearman differences", "",
                  CAPTIONS["pairwise"][1], "", "| " + " | ".join(PAIR_COLUMNS) + " |",
                  "|" + "---|" * len(PAIR_COLUMNS)]
        lines += ["| " + " | ".join(cells) + " |" for cells in pairs]
    lines += ["", "## Setup", ""] + [f"- {line}" for line in _setup_lines(report)] + [""]
    lines += [f"![{name}]({path})" for name, path in image_files.items()]
    return "\n".join(lines) + "\n"


def check_out_dir(out_dir: Path) -> None:
    """Raise InputError unless ``out_dir`` is a directory or can become one (call it before
    any work, so a bad ``--out`` fails at once)."""
    for path in (out_dir, *out_dir.parents):
        if path.exists():
            if not path.is_dir():
                raise InputError(f"--out {out_dir}: {path} is a file, not a directory; "
                                 "name a directory for the report")
            return


def write_report(report: Report, out_dir: Path) -> dict[str, Path]:
    """Write report.json, report.md (+ PNG figures beside it) and report.html (figures
    embedded) into ``out_dir``; returns the written paths by name."""
    check_out_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = {name: _png(make(report)) for name, make in FIGURES.items()
              if name != "pairwise" or report.pairwise}  # no pair: no forest plot
    paths = {"json": out_dir / "report.json", "markdown": out_dir / "report.md",
             "html": out_dir / "report.html"}
    for name, png in images.items():
        paths[name] = out_dir / f"{name}.png"
        paths[name].write_bytes(png)
    paths["json"].write_text(report.to_json())
    paths["markdown"].write_text(_markdown(report, {n: f"{n}.png" for n in images}))
    paths["html"].write_text(_html(report, images))
    return paths
