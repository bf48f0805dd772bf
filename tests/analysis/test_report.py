import base64
import dataclasses
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from nas import api
from nas.analysis.metrics import MIN_RANKED
from nas.analysis.render import columns, summary_rows, within_rows, write_report
from nas.analysis.report import ReportConfig, _stored_values, build_report, pairwise_differences
from nas.analysis.report_data import Report, SourceRow
from nas.cli import main
from nas.core.data import DataConfig
from storage import Database, list_datasets

METRICS = {"n", "spearman", "spearman_ci", "kendall", "kendall_ci", "top_k", "selected",
           "within_top"}
SELECTED = {"index", "accuracy", "best", "regret", "rank", "arch_id", "best_arch_id"}
COSTS = {"build_seconds", "pretrain_seconds", "mean_proxy_seconds", "mean_full_seconds",
         "total_proxy_seconds", "total_full_seconds", "speedup", "speedup_without_pretrain"}


def _data_flags(data):
    return ["--data", str(data), "--resize", "16", "--per-class", "20", "--test-per-class", "10"]


def test_report_command_writes_html_markdown_and_json_with_every_metric(tiny_bench, tmp_path):
    url, _, data = tiny_bench
    out = tmp_path / "report"
    assert main(["report", "--db", url, "--out", str(out), "--resamples", "100",
                 *_data_flags(data)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert len(report["rows"]) == 9  # random, d3, d3+elf, 5 zero-cost baselines, their ensemble
    for row in report["rows"]:
        assert set(row["metrics"]) == METRICS
        assert set(row["metrics"]["top_k"]) == {"5", "10", "20", "top5%"}
        assert set(row["metrics"]["selected"]) == SELECTED
        assert set(row["costs"]) == COSTS
        assert len(row["architectures"]) == row["metrics"]["n"]
    for fact in ("dataset", "ground_truth", "environment", "architectures", "scoring"):
        assert report[fact]
    html = (out / "report.html").read_text()
    images = re.findall(r"src='data:image/png;base64,([^']+)'", html)
    assert len(images) == 5  # scatter, spearman, within the top, pairwise forest, cost
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "src='http" not in html and 'src="http' not in html
    markdown = (out / "report.md").read_text()
    assert "| random-ipc3 | proxy |" in markdown and "synflow" in markdown


def test_selected_architecture_is_the_proxys_best_scored_one(tiny_bench):
    url, _, _ = tiny_bench
    db = Database(url)
    report = build_report(db, list_datasets(db)[0], ReportConfig(n_resamples=20))
    for row in report.rows:
        scores = {a.arch_id: a.score for a in row.architectures}
        truth = {a.arch_id: a.truth for a in row.architectures}
        chosen = row.metrics["selected"]["arch_id"]
        assert scores[chosen] == max(scores.values())
        assert row.metrics["selected"]["accuracy"] == truth[chosen]
        assert row.metrics["selected"]["regret"] == pytest.approx(
            max(truth.values()) - truth[chosen])


def test_report_without_ground_truth_is_a_clear_error(tiny_data, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    config = DataConfig(path=str(tiny_data), resize=16, per_class=20, test_per_class=10)
    api.register_dataset(Database(url), api.load_data(config))  # the dataset, no runs
    assert main(["report", "--db", url, "--out", str(tmp_path / "r"),
                 *_data_flags(tiny_data)]) == 2
    assert "no ground-truth runs" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def _run(arch: str, lr: float, seed: int, epochs: int = 4, val: float = 0.5):
    from storage import RunRecord
    train = {"epochs": epochs, "lr": lr, "batch_size": 256, "augment": "none",
             "eval_batch_size": 512 if seed else 1024}  # execution-only: never splits a group
    return RunRecord(key=f"{arch}-{lr}-{seed}", space="convnet720", arch_id=arch,
                     dataset_id=1, proxy_id=None, seed=seed, epochs=epochs,
                     config={"train": train}, status="finished", val_acc=val, test_acc=val,
                     train_loss=1.0, num_params=1, macs=1, wall_seconds=1.0, device="cpu",
                     versions={})


def test_runs_are_grouped_by_the_full_protocol_not_by_epochs_alone():
    from nas.analysis.report import _protocol_runs

    runs = [_run("a", 0.01, s) for s in (0, 1)] + [_run("a", 0.1, 0)]
    epochs, chosen = _protocol_runs(runs, "convnet720", None, epochs=4)
    assert epochs == 4
    assert sorted(r.key for r in chosen) == ["a-0.01-0", "a-0.01-1"]  # lr 0.1 stays apart
    _, other_epochs = _protocol_runs(runs + [_run("a", 0.01, 2, epochs=8)], "convnet720",
                                     None, epochs=8)
    assert [r.key for r in other_epochs] == ["a-0.01-2"]


def _independent_paired_interval(a, b, truth, n_resamples, seed):
    """The paired percentile bootstrap from its definition, scipy only: one draw of
    architectures per resample, applied to both sources."""
    import warnings

    import numpy as np
    from scipy import stats
    warnings.simplefilter("ignore", stats.ConstantInputWarning)  # undefined resamples: dropped
    a, b, truth = map(np.asarray, (a, b, truth))
    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(n_resamples):
        i = rng.integers(0, len(truth), size=len(truth))
        d = stats.spearmanr(a[i], truth[i]).statistic - stats.spearmanr(b[i], truth[i]).statistic
        if np.isfinite(d):
            deltas.append(d)
    return np.percentile(deltas, [2.5, 97.5])


def test_report_has_every_pairwise_difference_with_an_interval_that_agrees(tiny_bench,
                                                                            tmp_path):
    url, _, data = tiny_bench
    out = tmp_path / "report"
    assert main(["report", "--db", url, "--out", str(out), "--resamples", "200",
                 *_data_flags(data)]) == 0
    report = json.loads((out / "report.json").read_text())
    rows = {r["name"]: r for r in report["rows"]}
    pairs = report["pairwise"]
    assert len(pairs) == len(rows) * (len(rows) - 1) // 2  # every row scored every arch
    assert {frozenset((p["a"], p["b"])) for p in pairs} == {
        frozenset((x, y)) for x in rows for y in rows if x != y}
    checked = 0
    for p in pairs:
        sa = {a["arch_id"]: a["score"] for a in rows[p["a"]]["architectures"]}
        sb = {a["arch_id"]: a["score"] for a in rows[p["b"]]["architectures"]}
        truth = {a["arch_id"]: a["truth"] for a in rows[p["a"]]["architectures"]}
        shared = sorted(set(sa) & set(sb))
        assert p["n"] == len(shared)
        if None in (p["rho_a"], p["rho_b"]):  # a source with tied scores: rho is undefined
            assert p["difference"] is None and p["ci"] == [None, None]
            continue
        assert p["difference"] == pytest.approx(p["rho_a"] - p["rho_b"])
        if p["ci"][0] is None:
            continue
        low, high = _independent_paired_interval([sa[a] for a in shared],
                                                 [sb[a] for a in shared],
                                                 [truth[a] for a in shared], 200, 0)
        assert p["ci"] == pytest.approx([low, high], abs=1e-9)
        assert p["verdict"] == ("a" if low > 0 else "b" if high < 0 else "none")
        checked += 1
    assert checked >= 1
    markdown = (out / "report.md").read_text()
    assert "## Pairwise Spearman differences" in markdown
    first = pairs[0]
    assert f"| {first['a']} | {first['b']} | {first['n']} |" in markdown
    html = (out / "report.html").read_text()
    assert "Pairwise Spearman differences" in html and "alt='pairwise'" in html
    for row in report["rows"]:  # both correlations the literature uses, labelled
        if row["kind"] == "proxy":
            assert set(row["metrics_test"]) == {"n", "spearman", "spearman_ci", "kendall"}
    assert "ρ test acc [95% CI]" in markdown and "validation accuracy" in markdown


def _with_rows(*rows: SourceRow) -> Report:
    """A stored report (cpu-full) with only ``rows``."""
    stored = Path(__file__).parents[2] / "benchmarks" / "results" / "cpu-full.json"
    return dataclasses.replace(Report.from_json(stored.read_text()), rows=rows)


def test_summary_names_the_reports_top_fraction_and_shows_no_speed_up_for_published_truth():
    metrics = {"n": 40, "spearman": 0.5, "spearman_ci": [0.1, 0.8], "kendall": 0.4,
               "top_k": {"10": {"spearman": 0.2}, "top10%": {"overlap": 0.25}},
               "selected": {"accuracy": 0.9, "rank": 3, "regret": 0.01}}
    costs = {"build_seconds": 1.0, "pretrain_seconds": 0.0, "mean_proxy_seconds": 2.0,
             "total_proxy_seconds": 81.0, "speedup": 0.0}
    row = SourceRow("random-ipc10", "proxy", metrics, costs, (), {"stored_values": 10})
    report = _with_rows(row)
    assert "top-10% overlap" in columns(report)
    cells = dict(zip(columns(report), summary_rows(report)[0], strict=True))
    assert cells["top-10% overlap"] == "0.25" and cells["speed-up"] == "–"
    faster = _with_rows(dataclasses.replace(row, costs={**costs, "speedup": 3.0}))
    assert dict(zip(columns(faster), summary_rows(faster)[0], strict=True))["speed-up"] == "3.0x"


def _within_row(n: int) -> SourceRow:
    w = {"n": n, "spearman": -1.0, "spearman_ci": [-1.0, -1.0], "kendall": -1.0, "regret": 0.5}
    return SourceRow(f"proxy-{n}", "proxy", {"within_top": {"truth_top": w}}, {}, ())


def test_inside_the_top_on_too_few_architectures_shows_no_numbers():
    """A correlation on 3 architectures (ρ -1.000 [-1.00, -1.00]) reads as certain; the report
    says too few instead, and gives numbers from MIN_RANKED architectures on."""
    rows = within_rows(_with_rows(_within_row(MIN_RANKED - 1), _within_row(MIN_RANKED)))
    few, enough = rows
    assert few[1:5] == [str(MIN_RANKED - 1), f"too few architectures (n={MIN_RANKED - 1})",
                        "–", "–"]
    assert few[5:] == ["–"] * 4  # no prefilter in this report
    assert enough[1:5] == [str(MIN_RANKED), "-1.000 [-1.00, -1.00]", "-1.000", "0.500"]
    assert MIN_RANKED == 5 and 2 / math.factorial(4) > 0.05 > 2 / math.factorial(5)


def test_a_one_source_report_leaves_out_the_pairwise_table_and_plot(tiny_bench, tmp_path):
    url, _, _ = tiny_bench
    db = Database(url)
    report = build_report(db, list_datasets(db)[0], ReportConfig(n_resamples=20))
    assert report.pairwise  # several sources: the table and plot are there
    one = report.rows[:1]
    report = dataclasses.replace(
        report, rows=one, pairwise=pairwise_differences(one, ReportConfig(n_resamples=20)))
    assert report.pairwise == ()
    paths = write_report(report, tmp_path / "one")
    markdown = paths["markdown"].read_text()
    assert "Pairwise" not in markdown and "pairwise.png" not in markdown
    assert "## Inside the top" in markdown
    html = paths["html"].read_text()
    assert "Pairwise" not in html and "pairwise" not in paths
    assert len(re.findall(r"src='data:image/png;base64,", html)) == 4


def test_stored_values_count_what_each_proxy_keeps():
    summary = {"classes": ["a", "b", "c"], "train": 30, "shape": [3, 8, 8]}
    record = lambda method, **params: SimpleNamespace(method=method, ipc=2, params=params)  # noqa: E731
    assert _stored_values(record("random"), summary) == 2 * 3 * 192
    assert _stored_values(record("random-fly"), summary) == 30 * 192  # the whole split
    assert _stored_values(record("d2m-fly", artifact="ab"), summary) is None
    assert _stored_values(record("d3", artifact="ab", stored_params=77), summary) == 77
