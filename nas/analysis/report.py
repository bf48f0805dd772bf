"""Assemble a fidelity report from the database: every proxy and zero-cost baseline against
the ground truth, as one ``Report`` (``nas.analysis.report_data``; rendered by
``nas.analysis.render``)."""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from nas.analysis import metrics
from nas.analysis.curves import CURVE_SCORES, curve_score
from nas.analysis.ensemble import DEFAULT_MEMBERS, rank_ensemble
from nas.analysis.report_data import (
    ArchScore,
    GroundTruth,
    PairedDifference,
    Report,
    SourceRow,
    WithinTop,
)
from nas.analysis.zero_cost import ZERO_COST_METHODS
from nas.core.outcome import RunStatus, run_accuracy
from nas.core.runtime import machine, versions
from nas.core.trainer import protocol_of
from nas.errors import InputError
from proxies.base import PROXIES
from storage import (
    Database,
    DatasetRecord,
    ProxyRecord,
    RunRecord,
    list_proxy_records,
    list_runs,
    list_scores,
)

TRUTH_METRICS = ("test_acc", "val_acc")


@dataclass(frozen=True)
class ReportConfig:
    """Which runs enter the report and how they are scored."""

    space: str = "convnet720"
    arch_ids: tuple[str, ...] | None = None  # None: every architecture with ground truth
    proxy_ids: tuple[int, ...] | None = None  # proxies reported; None: every one with runs
    elf_proxy_ids: tuple[int, ...] | None = None  # proxies whose ELF runs are reported; None: all
    proxy_epochs: int | None = None  # None: each proxy's most common protocol
    truth_epochs: int | None = None  # None: the most common full-data protocol
    truth_metric: str = "test_acc"  # full-data accuracy that defines the true ranking
    ks: tuple[int, ...] = metrics.TOP_KS
    top_fraction: float = metrics.TOP_FRACTION
    n_resamples: int = 1000  # bootstrap resamples for the 95% intervals
    seed: int = 0  # bootstrap seed
    zero_cost: bool = True  # include stored zero-cost scores as rows
    # zero-cost scores whose rank sum is shown as its own row (when all are stored)
    ensemble: tuple[str, ...] = DEFAULT_MEMBERS
    # within-top metrics: the truth's top fraction, and the top K of a named prefilter row
    # (default: the ensemble row; K default: the same fraction of the architectures)
    within_fraction: float = 0.10
    # learning-curve scores (nas.analysis.curves) shown as extra rows beside each proxy's
    # final validation accuracy, read from the same runs
    curve_scores: tuple[str, ...] = ()
    prefilter: str | None = None
    prefilter_k: int | None = None
    title: str = "Proxy fidelity report"
    extra: dict = field(default_factory=dict)  # e.g. the benchmark preset, stated verbatim

    def __post_init__(self) -> None:
        for name, flag in (("proxy_epochs", "--proxy-epochs"), ("truth_epochs", "--truth-epochs")):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"{flag} must be at least 1, got {value}")
        if not 0 < self.within_fraction <= 1:
            raise InputError(f"within-top fraction must be in (0, 1], got "
                             f"{self.within_fraction}")
        if self.prefilter_k is not None and self.prefilter_k < 3:
            raise InputError(f"--prefilter-k must be at least 3, got {self.prefilter_k}")
        if self.n_resamples < 1:
            raise InputError(f"--resamples must be at least 1, got {self.n_resamples}")
        if self.seed < 0:
            raise InputError(f"report seed must be >= 0, got {self.seed}")
        if not self.ks or min(self.ks) < 1 or not 0 < self.top_fraction <= 1:
            raise InputError(f"top-k sizes must be >= 1 and the top fraction in (0, 1], got "
                             f"{self.ks} and {self.top_fraction}")
        unknown = sorted(set(self.curve_scores) - set(CURVE_SCORES))
        if unknown:
            raise InputError(f"unknown --score {unknown}; choose from {list(CURVE_SCORES)}")
        if self.truth_metric not in TRUTH_METRICS:
            raise InputError(f"truth metric {self.truth_metric!r} is not one of "
                             f"{list(TRUTH_METRICS)}")


def _accuracy(run: RunRecord, metric: str, classes: int) -> float:
    return run_accuracy(run.status, getattr(run, metric), classes)


def _protocol_runs(runs: Iterable[RunRecord], space: str, arch_ids: set[str] | None,
                   epochs: int | None) -> tuple[int | None, list[RunRecord]]:
    """Runs of one training protocol in the selection: the most common full protocol (epochs,
    lr, batch size, augmentation, ...) among runs of the given epochs (any, when None), so
    runs whose keys differ in any result-defining field are never averaged together."""
    runs = [r for r in runs if r.space == space and (arch_ids is None or r.arch_id in arch_ids)
            and (epochs is None or r.config["train"]["epochs"] == epochs)]
    if not runs:
        return None, []
    key = {id(r): json.dumps(protocol_of(r.config["train"]), sort_keys=True) for r in runs}
    chosen = Counter(key.values()).most_common(1)[0][0]
    chosen_runs = [r for r in runs if key[id(r)] == chosen]
    return chosen_runs[0].config["train"]["epochs"], chosen_runs


def _by_arch(runs: list[RunRecord], metric: str, classes: int) -> dict[str, dict]:
    """Per architecture: accuracy and seconds averaged over seeds, diverged count."""
    groups: dict[str, list[RunRecord]] = defaultdict(list)
    for r in runs:
        groups[r.arch_id].append(r)
    return {a: {"acc": float(np.mean([_accuracy(r, metric, classes) for r in rs])),
                "seconds": float(np.mean([r.wall_seconds for r in rs])),
                "diverged": sum(r.status != RunStatus.FINISHED for r in rs)}
            for a, rs in groups.items()}


def _protocol(runs: list[RunRecord]) -> dict:
    return {"train": runs[0].config["train"], "seeds": sorted({r.seed for r in runs}),
            "runs": len(runs), "devices": sorted({r.device for r in runs}),
            "sources": sorted({r.config.get("source", "full") for r in runs}),
            **({"published": runs[0].config["published"]}
               if "published" in runs[0].config else {})}


def _row(name: str, kind: str, scores: dict[str, float], seconds: dict[str, float],
         truth: dict[str, dict], build_seconds: tuple[float, float], cfg: ReportConfig,
         metrics_test: dict | None = None, **details) -> SourceRow | None:
    """One row of the report; ``build_seconds``: (build, pre-training); ``details``: what
    the source is (``SourceRow.details``)."""
    archs = sorted(set(scores) & set(truth))
    if not archs:
        return None
    x = [scores[a] for a in archs]
    y = [truth[a]["acc"] for a in archs]
    fid = metrics.fidelity(x, y, ks=cfg.ks, top_fraction=cfg.top_fraction,
                           n_resamples=cfg.n_resamples, seed=cfg.seed)
    fid = {**fid, "selected": {**fid["selected"], "arch_id": archs[fid["selected"]["index"]],
                               "best_arch_id": archs[int(np.argmax(y))]}}
    cost = metrics.costs(build_seconds[0], [seconds[a] for a in archs],
                         [truth[a]["seconds"] for a in archs], pretrain_seconds=build_seconds[1])
    return SourceRow(name=name, kind=kind, metrics=fid, costs=asdict(cost),
                     architectures=tuple(ArchScore(a, scores[a], truth[a]["acc"], seconds[a],
                                                   truth[a]["seconds"]) for a in archs),
                     details=details, metrics_test=metrics_test)


def _sources(db: Database, dataset: DatasetRecord, proxies: list[ProxyRecord]
             ) -> Iterator[tuple[ProxyRecord, str, list[RunRecord]]]:
    """(proxy, label, runs) per data source: ELF runs on a proxy are their own "+elf" source;
    sets of one method and IPC built with different options carry the options that differ
    ("dm-ipc10[iterations=200]"); a proxy of seed s != 0 is labelled "<label>/seed<s>"."""
    trained = []
    for proxy in proxies:
        groups: dict[str, list[RunRecord]] = defaultdict(list)
        for run in list_runs(db, dataset_id=dataset.id, proxy_id=proxy.id):
            groups[run.config.get("source", proxy.label)].append(run)
        if groups:
            trained.append((proxy, groups))
    apart = distinctions([proxy for proxy, _ in trained])
    for proxy, groups in trained:
        for source, runs in groups.items():
            label = source.replace(proxy.label, proxy.label + apart[proxy.id], 1)
            yield proxy, (f"{label}/seed{proxy.seed}" if proxy.seed else label), runs


def _flat(params: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[prefix + key] = value
    return out


def _short(value: object) -> str:
    """An option value as a label shows it: hashes cut to 8 characters, numbers as %g."""
    if isinstance(value, str):
        return value[:8] if re.fullmatch(r"[0-9a-f]{16,}", value) else value
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value, separators=(",", ":"))


def distinctions(proxies: list[ProxyRecord]) -> dict[int, str]:
    """Per proxy id: the options in which it differs from the other proxies of its method
    and IPC, as "[key=value,...]" (nested options as "outer.inner"); "" when none differ."""
    groups: dict[tuple, list[ProxyRecord]] = defaultdict(list)
    for proxy in proxies:
        groups[(proxy.method, proxy.ipc)].append(proxy)
    out = {}
    for group in groups.values():
        flat = [_flat(p.params) for p in group]
        differ = sorted({key for f in flat for key in f
                         if len({json.dumps(g.get(key), sort_keys=True) for g in flat}) > 1})
        for proxy, options in zip(group, flat, strict=True):
            out[proxy.id] = ("[" + ",".join(f"{k}={_short(options.get(k))}" for k in differ)
                             + "]") if differ else ""
    return out


def _artifact(stored: list[ProxyRecord], digest: str | None) -> ProxyRecord | None:
    found = [p for p in stored if digest is not None and p.artifact_hash == digest
             and p.ipc is None]
    return found[-1] if found else None


def lineage(proxy: ProxyRecord, stored: list[ProxyRecord]) -> list[ProxyRecord]:
    """The stored artifacts ``proxy`` was made from, nearest first: the one it was sampled
    from (its ``artifact`` option: a d2m-generator, D3 priors), then each one's ``base``
    (the pre-trained gan-generator a d2m-generator refines)."""
    chain: list[ProxyRecord] = []
    parent = _artifact(stored, proxy.params.get("artifact"))
    while parent is not None and parent not in chain:
        chain.append(parent)
        parent = _artifact(stored, parent.params.get("base"))
    return chain


def _build_seconds(proxy: ProxyRecord, chain: list[ProxyRecord]) -> tuple[float, float]:
    """(build, pre-training) seconds of ``proxy`` given its ``lineage``. Build: sampling its
    set plus distilling the artifact it was sampled from (D2M's generator refinement, D3's
    priors), as the D2M paper counts it. Pre-training: the artifacts further up (D2M's GAN),
    reused by every IPC, recorded on their own rows; 0 for an imported generator."""
    return (proxy.build_seconds + (chain[0].build_seconds if chain else 0.0),
            sum(p.build_seconds for p in chain[1:]))


def _stored_values(proxy: ProxyRecord, summary: dict) -> int | None:
    """Numbers a proxy keeps: its pixels (IPC x classes x C x H x W) for an image set, the
    whole training split's for real images drawn on the fly (``random-fly``), the parameters
    it samples from for a distributional one (D3 priors + decoder); None when not recorded
    (a D2M generator)."""
    if "stored_params" in proxy.params:
        return int(proxy.params["stored_params"])
    if "artifact" in proxy.params or proxy.ipc is None:
        return None
    pixels = math.prod(summary["shape"])
    if proxy.method in PROXIES and PROXIES.get(proxy.method).stream is not None:
        return summary["train"] * pixels
    return proxy.ipc * len(summary["classes"]) * pixels


def build_report(db: Database, dataset: DatasetRecord, cfg: ReportConfig = ReportConfig()
                 ) -> Report:
    """Every metric of every proxy and zero-cost baseline on ``dataset`` against its ground
    truth (full-data runs), plus what a reader needs to reproduce it.

    A diverged run counts as chance accuracy (``nas.core.outcome``); accuracies and times are
    averaged over seeds. Proxies are scored by validation accuracy after training on them.

    Raises:
        InputError: no ground truth, or no proxy/baseline shares an architecture with it.
    """
    classes = len(dataset.summary["classes"])
    selection = set(cfg.arch_ids) if cfg.arch_ids else None
    truth_epochs, truth_runs = _protocol_runs(
        list_runs(db, dataset_id=dataset.id, full_data=True), cfg.space, selection,
        cfg.truth_epochs)
    if not truth_runs:
        raise InputError(f"no ground-truth runs on dataset {dataset.key} for the selection; "
                         "run `nas ground-truth` (or import one with --import) first")
    truth = _by_arch(truth_runs, cfg.truth_metric, classes)
    rows, stored = [], list_proxy_records(db, dataset.id)
    for proxy, label, source_runs in _sources(db, dataset, stored):
        wanted = cfg.elf_proxy_ids if source_runs[0].config.get("elf") else cfg.proxy_ids
        if wanted is not None and proxy.id not in wanted:
            continue
        epochs, runs = _protocol_runs(source_runs, cfg.space, selection, cfg.proxy_epochs)
        if not runs:
            continue
        per_arch = _by_arch(runs, "val_acc", classes)
        chain = lineage(proxy, stored)
        row = _row(label, "proxy", {a: v["acc"] for a, v in per_arch.items()},
                   {a: v["seconds"] for a, v in per_arch.items()}, truth,
                   _build_seconds(proxy, chain), cfg,
                   metrics_test=_test_metrics(_by_arch(runs, "test_acc", classes), truth, cfg),
                   stored_values=_stored_values(proxy, dataset.summary), method=proxy.method,
                   ipc=proxy.ipc, proxy_seed=proxy.seed,
                   options=proxy.params, build_device=proxy.device, epochs=epochs,
                   diverged=sum(v["diverged"] for v in per_arch.values()),
                   protocol=_protocol(runs), elf=runs[0].config.get("elf"),
                   made_from=[{"kind": p.method, "hash": p.artifact_hash,
                               "seconds": p.build_seconds, "device": p.device}
                              for p in chain])
        if row:
            rows.append(row)
            rows += _curve_rows(row, runs, truth, _build_seconds(proxy, chain), cfg)
    if cfg.zero_cost:
        rows += _zero_cost_rows(db, dataset, truth, selection, cfg)
    if not rows:
        raise InputError("no proxy or zero-cost baseline shares an architecture with the ground "
                         "truth; run `nas search` or `nas bench fidelity` first")
    rows, prefilter = _within_top(rows, cfg)
    return Report(
        title=cfg.title,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        dataset={"key": dataset.key, "config": dataset.config, "summary": dataset.summary},
        space=cfg.space,
        architectures=tuple(sorted(truth)),
        ground_truth=GroundTruth(metric=cfg.truth_metric, epochs=truth_epochs,
                                 diverged=sum(v["diverged"] for v in truth.values()),
                                 protocol=_protocol(truth_runs),
                                 best=max(v["acc"] for v in truth.values()),
                                 total_seconds=sum(v["seconds"] for v in truth.values())),
        scoring={"proxy_score": "validation accuracy after training on the proxy",
                 "proxy_test": "proxy rows also give rho of the proxy-trained network's "
                               "test accuracy vs truth (metrics_test), the other "
                               "correlation the literature reports",
                 "pairwise": "rho(a) - rho(b) on the architectures both sources scored, "
                             "paired bootstrap 95% interval (same resamples for both)",
                 "truth": f"{cfg.truth_metric} after training on the full training split",
                 "diverged": "counted as chance accuracy",
                 "bootstrap": {"confidence": 0.95, "resamples": cfg.n_resamples,
                               "seed": cfg.seed, "unit": "architectures"}},
        rows=rows,
        within_top=prefilter,
        pairwise=pairwise_differences(rows, cfg),
        environment={"versions": versions(), "machine": machine()},
        preset=cfg.extra or None,
    )


def _test_metrics(per_arch: dict[str, dict], truth: dict[str, dict], cfg: ReportConfig
                  ) -> dict:
    """Spearman/Kendall of the proxy-trained networks' test accuracy vs the truth: what
    papers that rank by test accuracy report (the report ranks by validation accuracy)."""
    archs = sorted(set(per_arch) & set(truth))
    x = [per_arch[a]["acc"] for a in archs]
    y = [truth[a]["acc"] for a in archs]
    if len(archs) < 2:
        return {"n": len(archs), "spearman": math.nan, "spearman_ci": (math.nan, math.nan),
                "kendall": math.nan}
    return {"n": len(archs), "spearman": metrics.spearman(x, y),
            "spearman_ci": metrics.bootstrap_ci(x, y, n_resamples=cfg.n_resamples,
                                                seed=cfg.seed),
            "kendall": metrics.kendall(x, y)}


def _rho_key(row: SourceRow) -> float:
    rho = row.metrics["spearman"]
    return -math.inf if rho is None or rho != rho else rho


def pairwise_differences(rows: Sequence[SourceRow], cfg: ReportConfig
                         ) -> tuple[PairedDifference, ...]:
    """For every pair of rows that scored at least 3 common architectures: Spearman(a) -
    Spearman(b) against the truth on those architectures, with the paired bootstrap 95%
    interval of ``metrics.paired_spearman_difference``. Rows are taken best rho first, so
    ``a`` is the better-ranked source of its pair and differences are mostly >= 0.
    ``verdict``: "a" or "b" when the interval excludes zero, else "none"."""
    ordered = sorted(rows, key=_rho_key, reverse=True)
    out = []
    for i, first in enumerate(ordered):
        for second in ordered[i + 1:]:
            sa = {a.arch_id: a.score for a in first.architectures}
            sb = {a.arch_id: a.score for a in second.architectures}
            truth = {a.arch_id: a.truth for a in first.architectures}
            shared = sorted(set(sa) & set(sb))
            if len(shared) < 3:
                continue
            diff = metrics.paired_spearman_difference(
                [sa[a] for a in shared], [sb[a] for a in shared], [truth[a] for a in shared],
                n_resamples=cfg.n_resamples, seed=cfg.seed)
            verdict = ("a" if diff.low > 0 else "b" if diff.high < 0 else "none")
            out.append(PairedDifference(
                a=first.name, b=second.name, n=diff.n, rho_a=diff.rho_a, rho_b=diff.rho_b,
                difference=diff.difference, ci=(diff.low, diff.high),
                resamples_used=diff.resamples_used, verdict=verdict))
    return tuple(out)


def _curve_rows(row: SourceRow, runs: list[RunRecord], truth: dict[str, dict],
                build_seconds: tuple[float, float], cfg: ReportConfig) -> list[SourceRow]:
    """One row per learning-curve score of ``cfg.curve_scores``: the same runs as ``row``,
    ranked by that score (averaged over seeds; runs that kept no curve are left out)."""
    out = []
    seconds = {a.arch_id: a.seconds for a in row.architectures}
    for name in cfg.curve_scores:
        per_arch: dict[str, list[float]] = {}
        for run in runs:
            value = curve_score(name, run.curve)
            if value is not None and run.status == RunStatus.FINISHED:
                per_arch.setdefault(run.arch_id, []).append(value)
        scores = {a: float(np.mean(v)) for a, v in per_arch.items() if a in seconds}
        extra = _row(f"{row.name} [{name}]", "proxy", scores, seconds, truth,
                     build_seconds, cfg, score=name,
                     **{k: row.details[k] for k in ("method", "ipc", "proxy_seed", "options",
                                            "build_device", "epochs", "diverged",
                                            "protocol", "elf", "stored_values",
                                            "made_from")})
        if extra:
            out.append(extra)
    return out


def _within_top(rows: list[SourceRow], cfg: ReportConfig
                ) -> tuple[tuple[SourceRow, ...], WithinTop]:
    """``rows``, each with ``metrics["within_top"]``: its ranking inside the truth's top
    ``within_fraction`` and inside the top K of the prefilter row, on the architectures the
    row scored; and what was used (prefilter name, fraction, K)."""
    names = {r.name: r for r in rows}
    name = cfg.prefilter or f"ensemble({'+'.join(cfg.ensemble)})"
    if cfg.prefilter and name not in names:
        raise InputError(f"--prefilter {name!r} is not a row of this report; choose from "
                         f"{sorted(names)}")
    chosen = names.get(name)
    pre = {a.arch_id: a.score for a in chosen.architectures} if chosen else {}
    out_rows = []
    for row in rows:
        archs = [a.arch_id for a in row.architectures]
        x = [a.score for a in row.architectures]
        y = [a.truth for a in row.architectures]
        k = max(3, metrics.top_fraction_k(len(archs), cfg.within_fraction))
        out = {"truth_top": metrics.within(x, y, metrics.top_k_indices(y, min(k, len(y))),
                                           n_resamples=cfg.n_resamples, seed=cfg.seed)}
        shared = [i for i, a in enumerate(archs) if a in pre]
        if shared:
            kp = min(cfg.prefilter_k or k, len(shared))
            best = metrics.top_k_indices([pre[archs[i]] for i in shared], kp)
            out["prefilter_top"] = metrics.within(x, y, [shared[i] for i in best],
                                                  n_resamples=cfg.n_resamples, seed=cfg.seed)
        out_rows.append(replace(row, metrics={**row.metrics, "within_top": out}))
    return tuple(out_rows), WithinTop(truth_fraction=cfg.within_fraction,
                                      prefilter=name if chosen else None,
                                      prefilter_k=cfg.prefilter_k)


def _zero_cost_rows(db: Database, dataset: DatasetRecord, truth: dict[str, dict],
                    selection: set[str] | None, cfg: ReportConfig) -> list[SourceRow]:
    rows = []
    for method in ZERO_COST_METHODS:
        scores = [s for s in list_scores(db, dataset_id=dataset.id, method=method)
                  if s.space == cfg.space and (selection is None or s.arch_id in selection)]
        if not scores:
            continue
        latest = {s.arch_id: s for s in scores}  # a re-scored architecture: the last config
        defined = {a: s.value for a, s in latest.items() if s.value is not None}
        row = _row(method, "zero-cost", defined,
                   {a: s.wall_seconds for a, s in latest.items()}, truth, (0.0, 0.0), cfg,
                   undefined=len(latest) - len(defined),
                   protocol={"config": scores[-1].config, "devices": [scores[-1].device]})
        if row:
            rows.append(row)
    members = {r.name: r for r in rows}
    if all(m in members for m in cfg.ensemble):  # the ensemble of the members shown
        combined = rank_ensemble({m: {a.arch_id: a.score for a in members[m].architectures}
                                  for m in cfg.ensemble}, cfg.ensemble)
        seconds = {a: sum(next(x.seconds for x in members[m].architectures
                               if x.arch_id == a) for m in cfg.ensemble)
                   for a in combined}
        row = _row(f"ensemble({'+'.join(cfg.ensemble)})", "zero-cost", combined, seconds,
                   truth, (0.0, 0.0), cfg, members=list(cfg.ensemble),
                   protocol={**members[cfg.ensemble[0]].details["protocol"],
                             "rule": "sum of ranks"})
        if row:
            rows.append(row)
    return rows

