"""Learning-curve scores: each read from a stored curve by its definition, and report rows
that rank a proxy's runs by them at no extra training."""

import math

import pytest

from nas.analysis.curves import curve_score
from nas.analysis.report import ReportConfig, build_report
from storage import Database, list_datasets, list_runs

CURVE = {"train_loss": [2.0, 1.5, 1.2, 1.0], "val_acc": [[2, 0.30], [3, 0.50], [4, 0.40]]}


def test_each_score_reads_its_part_of_the_curve():
    assert curve_score("final-val", CURVE) == 0.40
    assert curve_score("best-val", CURVE) == 0.50
    assert curve_score("sotl", CURVE) == -(2.0 + 1.5 + 1.2 + 1.0)
    assert curve_score("sotl-e", CURVE) == -1.0
    assert curve_score("sotl-e", CURVE, last_epochs=2) == -(1.2 + 1.0)
    # trapezoids over epochs 2-4: (0.30 + 0.50) / 2 + (0.50 + 0.40) / 2, over a span of 2
    assert curve_score("val-auc", CURVE) == pytest.approx((0.40 + 0.45) / 2)


def test_runs_without_a_curve_or_with_diverged_losses_have_no_score():
    assert curve_score("sotl", None) is None
    assert curve_score("best-val", {"train_loss": [1.0], "val_acc": []}) is None
    assert curve_score("sotl-e", {"train_loss": [1.0, math.inf], "val_acc": []}) is None
    with pytest.raises(ValueError, match="unknown score"):
        curve_score("loss", CURVE)


def test_report_rows_rank_the_same_runs_by_a_curve_score(tiny_bench):
    url, _, _ = tiny_bench
    db = Database(url)
    dataset = list_datasets(db)[0]
    report = build_report(db, dataset, ReportConfig(n_resamples=20,
                                                    curve_scores=("sotl-e", "best-val")))
    rows = {r.name: r for r in report.rows}
    proxy = rows["random-ipc3"]
    sotl = rows["random-ipc3 [sotl-e]"]
    runs = [r for r in list_runs(db, dataset_id=dataset.id) if r.proxy_id is not None
            and r.config["source"] == "random-ipc3" and r.config.get("elf") is None]
    last_loss = {r.arch_id: r.curve["train_loss"][-1] for r in runs}
    assert {a.arch_id: a.score for a in sotl.architectures} == \
        {a: -loss for a, loss in last_loss.items()}
    # the tiny preset's curve scores its whole 20-image validation split once, at the last of
    # its 2 epochs: the best validation accuracy is the final one
    assert [a.score for a in rows["random-ipc3 [best-val]"].architectures] == \
        [a.score for a in proxy.architectures]
