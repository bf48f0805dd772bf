"""nas bench frontier: the prefilter's top cells by a rank-sum ensemble, and recipe points
whose choices never depend on the published accuracies that judge them."""

import dataclasses
import json
import random

import pytest
from scipy.stats import rankdata, spearmanr

from nas.bench import frontier
from nas.core.runtime import machine
from nas.published import PublishedTable, load_nb201
from tests.datasets import write_image_folder

CELLS = ["nb201-11472", "nb201-0", "nb201-6111", "nb201-42", "nb201-9000", "nb201-15624"]


def stored_scores(path):
    rng = random.Random(3)
    scores = {m: {c: rng.uniform(0, 10) for c in CELLS} for m in frontier.ENSEMBLE}
    scores["naswot"]["nb201-42"] = None  # unscored by one member: outside the ensemble
    path.write_text(json.dumps({"scores": scores,
                                "seconds_per_cell": {m: 0.5 for m in frontier.ENSEMBLE}}))
    return scores


def test_the_ensemble_ranks_by_the_sum_of_member_ranks(tmp_path):
    scores = stored_scores(tmp_path / "s.json")
    top, rank_sum = frontier.ensemble_top(scores, 0.5)
    scored = [c for c in CELLS if c != "nb201-42"]
    for cell in scored:  # rank = 1 + cells scored lower, per member (no ties here)
        expected = sum(1 + sum(scores[m][o] < scores[m][cell] for o in scored)
                       for m in frontier.ENSEMBLE)
        assert rank_sum[cell] == expected
    assert set(rank_sum) == set(scored)
    assert top == sorted(scored, key=lambda c: -rank_sum[c])[:3]  # half of 5, at least 3


def test_recipe_choices_do_not_move_when_the_published_table_is_permuted(tmp_path,
                                                                         monkeypatch):
    stored_scores(tmp_path / "s.json")
    data = write_image_folder(tmp_path / "data", n_train=6, n_test=2, size=8)
    cfg = frontier.FrontierConfig(scores=str(tmp_path / "s.json"), top_fraction=1.0,
                                  per_class=6, test_per_class=2, n_resamples=20)
    recipe = frontier.Recipe("tiny", ipc=2, resize=8, train={"epochs": 2}, cells=3)
    one_epoch = frontier.Recipe("one epoch", ipc=2, resize=8, train={"epochs": 1})

    def run(name):
        return frontier.run_frontier(f"sqlite:///{tmp_path / name}", cfg, (one_epoch, recipe),
                                     data_path=str(data), note=lambda s: None)

    first = run("a.db")
    scores = {r.name: [p.score for p in first.points if p.recipe.startswith(r.label)]
              for r in (recipe, one_epoch)}
    assert scores["tiny"] == ["final-val", *frontier.CURVE_POINTS]
    assert scores["one epoch"] == ["final-val", "sotl", "sotl-e"]  # one validation point
    baseline = next(p for p in first.points if p.recipe == "zero-cost ensemble, first 3 cells")
    assert baseline.cells == 3 and baseline.minus_ensemble == 0
    table_text = frontier.markdown(first)
    assert all(f"| {p.recipe} |" in table_text for p in first.points)
    stored = json.loads(json.dumps(first.to_dict()))  # what nb201-frontier.json holds
    assert frontier.markdown(frontier.FrontierResult.from_dict(stored)) == table_text
    assert frontier.plot(first, tmp_path / "f.png").stat().st_size > 0
    table = load_nb201()
    column = table.accuracy(cfg.metric)
    values = list(column.values())
    random.Random(0).shuffle(values)
    permuted = PublishedTable(table.benchmark, table.space, table.origin,
                              {**table.values, cfg.metric: dict(zip(column, values, strict=True))})
    monkeypatch.setattr(frontier, "load_nb201", lambda: permuted)
    second = run("b.db")
    assert first.cells == second.cells
    for a, b in zip(first.points, second.points, strict=True):
        assert a.recipe == b.recipe and a.selected == b.selected
        assert a.cpu_seconds_per_cell >= 0
    assert [p.selected_acc for p in first.points] != \
        [p.selected_acc for p in second.points]  # the judge did change
    assert dataclasses.asdict(recipe) == first.points[-1].recipe_config
    assert first.machine == machine()  # the machine its timings were measured on


def test_with_ensemble_ranks_cells_by_the_sum_of_both_ranks():
    rank_sum = {"a": 5.0, "b": 4.0, "c": 3.0, "d": 2.0, "e": 1.0}  # a above b: one mistake
    truth = {"a": 0.7, "b": 0.9, "c": 0.5, "d": 0.4, "e": 0.3}
    cfg = frontier.FrontierConfig.__new__(frontier.FrontierConfig)  # only its bootstrap fields
    object.__setattr__(cfg, "n_resamples", 50)
    object.__setattr__(cfg, "seed", 0)
    cells = sorted(truth)
    right = {"a": 1.0, "b": 2.0, "c": 0.5, "d": 0.2, "e": 0.1}  # the true order
    combined = rankdata([rank_sum[c] for c in cells]) + rankdata([right[c] for c in cells])
    expected = spearmanr(combined, [truth[c] for c in cells]).statistic
    helped = frontier.with_ensemble(right, rank_sum, truth, cfg)
    assert helped["with_ensemble_spearman"] == pytest.approx(expected)
    assert helped["with_ensemble_minus_ensemble"] == pytest.approx(expected - 0.9)  # rho 0.9
    wrong = {c: -v for c, v in right.items()}  # the reverse order drags the sum down
    assert frontier.with_ensemble(wrong, rank_sum, truth, cfg)[
        "with_ensemble_minus_ensemble"] < 0


def test_seed_agreement_pairs_recipes_that_differ_only_in_their_seed():
    cfg = frontier.FrontierConfig.__new__(frontier.FrontierConfig)  # only its bootstrap fields
    object.__setattr__(cfg, "n_resamples", 50)
    object.__setattr__(cfg, "seed", 0)
    truth = {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6, "e": 0.5}
    rank_sum = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "e": 5.0}
    seed0 = {"a": 0.5, "b": 0.4, "c": 0.1, "d": 0.3, "e": 0.2}
    seed1 = {"a": 0.3, "b": 0.5, "c": 0.4, "d": 0.1, "e": 0.2}
    base = frontier.Recipe("fast", train={"epochs": 2})
    final = frontier.RecipeFinal
    finals = [final(base, 0, seed0, 1.0),
              final(dataclasses.replace(base, name="fast seed 1", seed=1), 1, seed1, 2.0),
              final(dataclasses.replace(base, train={"epochs": 3}), 0, seed1, 4.0)]  # another
    rows, points = frontier.seed_agreement(finals, truth, rank_sum, cfg)
    cells = sorted(truth)
    assert len(rows) == 1 and rows[0].seeds == (0, 1)
    assert rows[0].spearman == pytest.approx(
        spearmanr([seed0[c] for c in cells], [seed1[c] for c in cells]).statistic)
    (point,) = points
    mean = [(seed0[c] + seed1[c]) / 2 for c in cells]
    assert point.spearman == pytest.approx(spearmanr(mean, [truth[c] for c in cells]).statistic)
    assert point.cpu_seconds_per_cell == 3.0  # both seeds' training


def test_the_ensemble_meets_its_members_on_every_cell_undefined_scores_last(tmp_path):
    scores = stored_scores(tmp_path / "s.json")  # NASWOT undefined on nb201-42
    truth = {c: float(i) for i, c in enumerate(CELLS)}
    cfg = frontier.FrontierConfig.__new__(frontier.FrontierConfig)  # only its bootstrap fields
    object.__setattr__(cfg, "n_resamples", 50)
    object.__setattr__(cfg, "seed", 0)
    rows = {r.source: r for r in frontier.ensemble_vs_members(scores, truth, cfg)}
    cells = sorted(CELLS)
    y = [truth[c] for c in cells]
    filled = {m: [-1e9 if scores[m][c] is None else scores[m][c] for c in cells]
              for m in frontier.ENSEMBLE}
    assert rows["naswot"].cells == len(CELLS)
    assert rows["naswot"].spearman == pytest.approx(spearmanr(filled["naswot"], y).statistic)
    rank_sum = sum(rankdata(filled[m]) for m in frontier.ENSEMBLE)
    assert rows["ensemble"].spearman == pytest.approx(spearmanr(rank_sum, y).statistic)
