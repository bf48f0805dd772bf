"""One rule for a diverged run or an undefined score, the same in every consumer."""

from __future__ import annotations

import json
from types import SimpleNamespace

from nas.analysis import report
from nas.bench import frontier
from nas.core.outcome import RunStatus, run_accuracy, undefined_last


def test_a_finished_run_scores_its_accuracy_any_other_run_scores_chance():
    assert run_accuracy(RunStatus.FINISHED, 0.42, 10) == 0.42
    assert run_accuracy(RunStatus.DIVERGED, None, 10) == 1 / 10
    assert run_accuracy(RunStatus.FINISHED, None, 4) == 1 / 4  # measured nothing
    assert run_accuracy(RunStatus.PRUNED, 0.9, 10) == 1 / 10  # a pruned run is no result


def test_an_undefined_score_ranks_last_instead_of_dropping_the_candidate():
    assert undefined_last({"a": 2.0, "b": None, "c": -1.0, "d": float("-inf")}) == \
        {"a": 2.0, "b": -2.0, "c": -1.0, "d": -2.0}
    assert undefined_last({"a": None}) == {"a": -1.0}


def test_a_status_is_its_stored_string():
    assert RunStatus("diverged") is RunStatus.DIVERGED
    assert RunStatus.FINISHED == "finished" and json.dumps(RunStatus.PRUNED) == '"pruned"'


def test_the_report_and_the_frontier_score_a_diverged_run_alike():
    diverged = SimpleNamespace(status="diverged", val_acc=None, test_acc=None, curve=None)
    finished = SimpleNamespace(status="finished", val_acc=0.3, test_acc=0.25, curve=None)
    for run in (diverged, finished):
        assert frontier._score(run, "final-val", 10) == report._accuracy(run, "val_acc", 10) \
            == run_accuracy(run.status, run.val_acc, 10)
    assert frontier._score(diverged, "sotl", 10) == float("-inf")  # undefined: ranked last
