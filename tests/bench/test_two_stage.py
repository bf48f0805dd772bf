"""nas bench two-stage: calibration picks the signal that agrees with short full-data
training, the prefilter's top is reordered above the rest, and the truth never steers."""

import json
import random

import pytest

from nas.analysis.metrics import spearman
from nas.bench import two_stage
from nas.published import PublishedTable, load_nb201
from tests.datasets import write_image_folder

ENSEMBLE = {"a": 6.0, "b": 5.0, "c": 4.0, "d": 3.0, "e": 2.0, "f": 1.0}


def test_calibration_spans_the_ensemble_order_best_and_worst_included():
    assert two_stage.calibration_archs(ENSEMBLE, 3) == ["a", "c", "f"]  # positions 0, 2, 5
    assert two_stage.calibration_archs(ENSEMBLE, 6) == ["a", "b", "c", "d", "e", "f"]


def test_the_signal_that_agrees_with_calibration_wins_and_ties_go_to_the_prefilter():
    calib = {"a": 0.9, "c": 0.6, "f": 0.2}  # agrees with the ensemble
    reversed_proxy = {"a": 0.1, "c": 0.5, "f": 0.8}
    chosen = two_stage.choose_regime(ENSEMBLE, reversed_proxy, calib)
    regime, rho_z, rho_p = chosen.regime, chosen.ensemble_rho, chosen.proxy_rho
    assert (regime, rho_z, rho_p) == (two_stage.PREFILTER, pytest.approx(1.0),
                                      pytest.approx(-1.0))
    flipped = {a: -v for a, v in calib.items()}  # now the proxy agrees
    assert two_stage.choose_regime(ENSEMBLE, reversed_proxy, flipped).regime == two_stage.PROXY
    assert two_stage.choose_regime(ENSEMBLE, {a: ENSEMBLE[a] for a in calib}, calib).regime == \
        two_stage.PREFILTER
    constant = {a: 0.5 for a in calib}  # a signal with no order tells nothing
    assert two_stage.choose_regime(ENSEMBLE, constant, calib).regime == two_stage.PREFILTER


def test_the_top_is_reordered_above_the_rest_which_keeps_the_ensemble_order():
    proxy = {"a": 0.1, "b": 0.3, "c": 0.2}
    top = ["a", "b", "c"]
    staged = two_stage.staged_ranking(ENSEMBLE, proxy, top, "proxy")
    order = sorted(staged, key=lambda a: -staged[a])
    assert order == ["b", "c", "a", "d", "e", "f"]
    # sum: ensemble ranks in the top a3 b2 c1, proxy a1 b3 c2 -> a4 b5 c3
    staged = two_stage.staged_ranking(ENSEMBLE, proxy, top, "sum")
    assert sorted(staged, key=lambda a: -staged[a]) == ["b", "a", "c", "d", "e", "f"]
    everything = two_stage.staged_ranking(ENSEMBLE, {a: -v for a, v in ENSEMBLE.items()},
                                          list(ENSEMBLE), "proxy")
    assert spearman([everything[a] for a in ENSEMBLE], list(ENSEMBLE.values())) == \
        pytest.approx(-1.0)


def test_bad_configs_fail_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="--keep"):
        two_stage.TwoStageConfig(keep=0)
    with pytest.raises(ValueError, match="--regime"):
        two_stage.TwoStageConfig(regime="zero-cost")
    with pytest.raises(ValueError, match="--calibration"):
        two_stage.TwoStageConfig(sample=4, calibration=8)
    with pytest.raises(ValueError, match="--truth"):
        two_stage.TwoStageConfig(space="convnet720", truth=str(tmp_path / "none.csv"))


def test_a_real_two_stage_run_is_not_steered_by_the_published_table(tmp_path, monkeypatch):
    data = write_image_folder(tmp_path / "data", n_train=6, n_test=2, size=8)
    cfg = two_stage.TwoStageConfig(sample=8, calibration=3, keep=0.25, ipc=2, epochs=1,
                                   calibration_epochs=1, resize=8, per_class=6,
                                   test_per_class=2, n_resamples=20)

    def run(name):
        return two_stage.run_two_stage(f"sqlite:///{tmp_path / name}", cfg,
                                       data_path=str(data), note=lambda s: None)

    first = run("a.db")
    table = load_nb201()
    column = table.accuracy("cifar10_test_acc")
    values = list(column.values())
    random.Random(0).shuffle(values)
    permuted = PublishedTable(table.benchmark, table.space, table.origin,
                              {**table.values, "cifar10_test_acc": dict(zip(column, values,
                                                                            strict=True))})
    monkeypatch.setattr(two_stage, "load_nb201", lambda: permuted)
    second = run("b.db")
    assert (first.regime, first.top, first.calibration) == \
        (second.regime, second.top, second.calibration)
    assert [r.source for r in first.rows] == ["two-stage", "ensemble", "proxy alone"]
    assert [r.spearman for r in first.rows] != [r.spearman for r in second.rows]
    assert first.candidates == 8 and len(first.top) == 3
    assert first.rows[0].two_stage_minus == 0  # itself
    stored = json.loads(json.dumps(first.to_dict()))  # what two-stage-<space>.json holds
    assert two_stage.markdown(two_stage.TwoStageResult.from_dict(stored)) == \
        two_stage.markdown(first)
    assert "regime is" in two_stage.markdown(first)
