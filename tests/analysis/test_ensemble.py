"""The zero-cost rank ensemble: ranks computed by counting, ties averaged, and its report row."""

import math

import pytest

from nas.analysis.ensemble import rank_ensemble
from nas.analysis.report import ReportConfig, build_report
from storage import Database, list_datasets


def counted_rank(value: float, values: list[float]) -> float:
    """1-based rank, 1 = lowest, ties sharing the mean of their positions."""
    below = sum(v < value for v in values)
    tied = sum(v == value for v in values)
    return below + (tied + 1) / 2


def test_the_sum_rule_adds_each_members_rank_and_drops_what_a_member_left_unscored():
    scores = {"params": {"a": 1.0, "b": 5.0, "c": 5.0, "d": 2.0},
              "synflow": {"a": 0.3, "b": 0.1, "c": 0.2, "d": math.nan},
              "naswot": {"a": 9.0, "b": 7.0, "c": 8.0, "d": 1.0}}
    combined = rank_ensemble(scores)
    assert set(combined) == {"a", "b", "c"}  # d has no finite synflow
    for arch in combined:
        expected = sum(counted_rank(scores[m][arch], [scores[m][x] for x in "abc"])
                       for m in scores)
        assert combined[arch] == expected
    # params ranks a 1, d 2, b and c 3.5; naswot d 1, b 2, c 3, a 4: each keeps its worst
    assert rank_ensemble(scores, ("params", "naswot"), rule="min") == {
        "a": 1.0, "b": 2.0, "c": 3.0, "d": 1.0}


def test_unknown_rules_and_unscored_members_are_refused():
    with pytest.raises(ValueError, match="unknown ensemble rule"):
        rank_ensemble({"params": {"a": 1.0}}, ("params",), rule="mean")
    with pytest.raises(ValueError, match="naswot"):
        rank_ensemble({"params": {"a": 1.0}, "synflow": {"a": 2.0}})


def test_the_report_shows_the_ensemble_of_its_own_member_rows(tiny_bench):
    url, _, _ = tiny_bench
    db = Database(url)
    report = build_report(db, list_datasets(db)[0], ReportConfig(n_resamples=20))
    rows = {r.name: r for r in report.rows}
    ensemble = rows["ensemble(params+synflow+naswot)"]
    members = {m: {a.arch_id: a.score for a in rows[m].architectures}
               for m in ("params", "synflow", "naswot")}
    archs = sorted(set.intersection(*(set(s) for s in members.values())))
    for a in ensemble.architectures:
        assert a.score == sum(counted_rank(s[a.arch_id], [s[x] for x in archs])
                              for s in members.values())
    assert ensemble.kind == "zero-cost"
