"""rea and sh: real Optuna studies on a tiny image folder, measuring real zero-cost scores
and real proxy training of NAS-Bench-201 cells."""

from __future__ import annotations

import math

import numpy as np
import pytest
from optuna.trial import TrialState

from nas.analysis import zero_cost
from nas.core.data import DataConfig
from nas.core.trainer import TrainConfig
from nas.engines import SearchConfig, SearchJob, run_search
from nas.engines.evolution import (
    BRACKET,
    CHARGED,
    FIDELITY,
    RUNG,
    VALUES,
    anytime,
    claim_sh,
    incumbent,
    measure_trial,
)
from nas.engines.fidelity import order
from nas.engines.session import open_search
from nas.engines.worker import work
from search_spaces import get_space
from storage import Database, list_datasets, list_runs, list_scores
from tests.engines.support import only_study, write_tiny_folder


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_CACHE", str(tmp_path / "cache"))
    return DataConfig(path=str(write_tiny_folder(tmp_path / "data"))), \
        f"sqlite:///{tmp_path / 'nas.db'}"


def _job(tiny, **search) -> SearchJob:
    data, url = tiny
    return SearchJob(url, data, SearchConfig(space="nb201", ipc=4, train=TrainConfig(epochs=1),
                                             **search))


def _edges_changed(a: str, b: str) -> int:
    space = get_space("nb201")
    return sum(x != y for x, y in zip(space.parse(a).ops, space.parse(b).ops, strict=True))


def test_rea_children_are_one_edge_mutations_of_a_tournament_winner(tiny):
    summary = run_search(_job(tiny, strategy="rea", rea_score="params", population=4, sample=2,
                              trials=12), progress=False)
    trials = summary.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 12
    archs = [t.user_attrs["arch_id"] for t in trials]
    for i in range(4, 12):  # each child: one edge away from a member of the 4 latest
        population = archs[i - 4:i]
        assert min(_edges_changed(archs[i], p) for p in population) == 1
    for t in trials:  # params is charged what it cost and scores the trial
        assert t.user_attrs[FIDELITY] == "params" and t.user_attrs[CHARGED] >= 0
        assert t.value == t.user_attrs[VALUES]["params"]
    best = max(trials, key=lambda t: (t.value, [-ord(c) for c in t.user_attrs["arch_id"]]))
    assert incumbent(trials, ["params"]) == best.user_attrs["arch_id"]


def test_rea_resumes_where_it_stopped(tiny):
    run_search(_job(tiny, strategy="rea", rea_score="params", population=3, sample=2, trials=5),
               progress=False)
    resumed = run_search(_job(tiny, strategy="rea", rea_score="params", population=3, sample=2,
                              trials=9), progress=False)
    fresh_tiny = (tiny[0], tiny[1].replace("nas.db", "fresh.db"))
    fresh = run_search(_job(fresh_tiny, strategy="rea", rea_score="params", population=3,
                            sample=2, trials=9), progress=False)
    assert [t.user_attrs["arch_id"] for t in resumed.trials] == \
        [t.user_attrs["arch_id"] for t in fresh.trials]


def test_sh_promotes_the_best_third_of_each_rung_up_the_ladder(tiny):
    ladder = ("params", "flops", "train:1")
    summary = run_search(_job(tiny, strategy="sh", fidelities=ladder, bracket=9, eta=3,
                              trials=13), progress=False)
    trials = summary.trials
    rungs = [[t for t in trials if t.user_attrs[RUNG] == r] for r in range(3)]
    assert [len(r) for r in rungs] == [9, 3, 1]
    assert {t.user_attrs[BRACKET] for t in trials} == {0}
    for r in range(2):
        scores = order(ladder[r], {t.user_attrs["arch_id"]: t.user_attrs[VALUES]
                                   for t in rungs[r]})
        top = sorted(scores, key=lambda a: (-scores[a], a))[:len(rungs[r + 1])]
        assert {t.user_attrs["arch_id"] for t in rungs[r + 1]} == set(top)
    (final,) = rungs[2]
    assert final.user_attrs[VALUES]["val_acc"] == final.value
    assert incumbent(trials, ladder) == final.user_attrs["arch_id"]
    points = anytime(trials, ladder)
    assert points[-1][1] == final.user_attrs["arch_id"]
    assert [s for s, _ in points] == sorted(s for s, _ in points)
    assert points[-1][0] <= sum(t.user_attrs[CHARGED] for t in trials)


def test_sh_stops_at_the_cpu_budget_and_restarts_brackets_below_it(tiny):
    summary = run_search(_job(tiny, strategy="sh", fidelities=("params",), bracket=3,
                              cpu_budget=1e-9, trials=100), progress=False)
    assert len(summary.trials) == 3  # the first bracket, then the budget is spent
    brackets = run_search(_job(tiny, strategy="sh", fidelities=("params",), bracket=3,
                               trials=7, study="more"), progress=False)
    assert [t.user_attrs[BRACKET] for t in brackets.trials] == [0, 0, 0, 1, 1, 1, 2]
    archs = [t.user_attrs["arch_id"] for t in brackets.trials]
    assert len(set(archs)) == 7  # a new bracket draws architectures not measured yet


def test_ensemble_order_is_the_rank_sum_within_the_group():
    measured = {"a": {"params": 1, "synflow": 5, "naswot": 0},
                "b": {"params": 2, "synflow": 3, "naswot": 9},
                "c": {"params": 3, "synflow": 1, "naswot": None}}
    # a and b scored by all members: ranks a (1, 2, 1) = 4, b (2, 1, 2) = 5; c undefined
    assert order("ensemble", measured) == {"a": 4.0, "b": 5.0, "c": -math.inf}


def test_a_resumed_study_refuses_other_rea_settings(tiny):
    run_search(_job(tiny, strategy="rea", rea_score="params", population=3, sample=2, trials=3),
               progress=False)
    with pytest.raises(ValueError, match="search"):
        run_search(_job(tiny, strategy="rea", rea_score="params", population=4, sample=2,
                        trials=3), progress=False)
    study = only_study(tiny[1])
    assert len(study.trials) == 3


@pytest.mark.parametrize("bad", [dict(rea_score="nope"), dict(fidelities=()),
                                 dict(fidelities=("train:0",)), dict(population=2, sample=3),
                                 dict(eta=1), dict(cpu_budget=-1.0)])
def test_bad_search_settings_fail_before_anything_runs(bad):
    with pytest.raises(ValueError):
        SearchConfig(space="nb201", **bad)


def test_random_draws_depend_only_on_the_seed():
    a, b = np.random.default_rng([3, 7]), np.random.default_rng([3, 7])
    assert a.integers(1000, size=5).tolist() == b.integers(1000, size=5).tolist()


def test_a_full_rung_trains_on_the_whole_split_and_a_train_rung_on_the_proxy(tiny):
    summary = run_search(_job(tiny, strategy="sh", fidelities=("params", "train:1", "full:1"),
                              bracket=4, eta=2, trials=7), progress=False)
    by_fidelity = {f: [t for t in summary.trials if t.user_attrs[FIDELITY] == f]
                   for f in ("train:1", "full:1")}
    assert [len(v) for v in by_fidelity.values()] == [2, 1]
    runs = list_runs(Database(tiny[1]))
    (full,) = [r for r in runs if r.proxy_id is None]
    assert full.arch_id == by_fidelity["full:1"][0].user_attrs["arch_id"]
    assert full.val_acc == by_fidelity["full:1"][0].value
    assert sum(r.proxy_id is not None for r in runs) == 2


def _cells(trials) -> dict[tuple, tuple]:
    """(bracket, rung, architecture) -> what its trial holds besides timings and the worker."""
    return {(t.user_attrs[BRACKET], t.user_attrs[RUNG], t.user_attrs["arch_id"]):
            (t.state, t.value, t.params, t.distributions, t.user_attrs[FIDELITY],
             t.user_attrs[VALUES]) for t in trials}


def test_an_interrupted_zero_cost_rung_resumes_without_rescoring_or_doubling_a_cell(
        tiny, monkeypatch):
    settings = dict(strategy="sh", fidelities=("params", "synflow"), bracket=6, eta=3,
                    trials=8)
    # the same search as before rungs were batched: one claimed trial per cell
    before = open_search(_job((tiny[0], tiny[1].replace("nas.db", "before.db")), **settings))
    work(before, claim_sh, None, measure_trial)
    # batched, interrupted (as by Ctrl-C) at the second synflow score, each score committed
    monkeypatch.setattr(zero_cost, "COMMIT_EVERY_S", 0.0)
    scored, real = [], zero_cost.score_architecture

    def interrupted(space, arch_id, method, *args):
        if method == "synflow" and any(m == "synflow" for _, m in scored):
            raise KeyboardInterrupt
        scored.append((arch_id, method))
        return real(space, arch_id, method, *args)

    monkeypatch.setattr(zero_cost, "score_architecture", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_search(_job(tiny, **settings), progress=False)
    study = only_study(tiny[1])
    assert [t.user_attrs[RUNG] for t in study.trials] == [0] * 6  # none of the cut rung
    first = list(scored)
    monkeypatch.setattr(zero_cost, "score_architecture",
                        lambda *a: scored.append(a[1:3]) or real(*a))
    resumed = run_search(_job(tiny, **settings), progress=False)

    trials = resumed.trials
    assert len(trials) == 8 and len(_cells(trials)) == 8  # one trial per cell
    assert _cells(trials) == _cells(before.study.get_trials())
    rescored = scored[len(first):]
    assert set(rescored).isdisjoint(first)  # the committed synflow score was read back
    assert sorted(rescored) == sorted({(t.user_attrs["arch_id"], "synflow") for t in trials
                                       if t.user_attrs[RUNG] == 1} - set(first))
    db = Database(tiny[1])
    (dataset,) = list_datasets(db)
    stored = {(s.arch_id, s.method): s.wall_seconds
              for s in list_scores(db, dataset_id=dataset.id)}
    for t in trials:  # each charged what its score cost when first computed
        assert t.user_attrs[CHARGED] == stored[(t.user_attrs["arch_id"],
                                                t.user_attrs[FIDELITY])]
