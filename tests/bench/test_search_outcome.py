"""The truth never steers a search: permuting the published accuracies changes only the
judged accuracy of the returned cells, never the cells a search measures or returns."""

from __future__ import annotations

import numpy as np
import pytest

from nas.bench.search_outcome import (
    Contender,
    OutcomeConfig,
    markdown,
    minus_previous,
    run_outcome,
)
from nas.core.data import DataConfig
from nas.published import load_nb201
from tests.engines.support import write_tiny_folder

CONTENDERS = {
    "rea params": Contender("rea params", "rea", {"rea_score": "params", "population": 4,
                                                  "sample": 2, "trials": 10}),
    "sh params>train:1": Contender("sh params>train:1", "sh", {
        "fidelities": ("params", "train:1"), "bracket": 6, "eta": 3, "trials": 8}),
}


def _outcome(tmp_path, name: str, truth: dict[str, float]) -> dict:
    cfg = OutcomeConfig(contenders=tuple(CONTENDERS), seeds=1, budget=1e6, ipc=4, epochs=1)
    data = DataConfig(path=str(write_tiny_folder(tmp_path / "data")))
    return run_outcome(f"sqlite:///{tmp_path / name}", cfg, data=data, truth=truth,
                       catalog=CONTENDERS, note=lambda line: None)


def test_permuted_published_accuracies_change_no_choice_of_any_search(tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_CACHE", str(tmp_path / "cache"))
    published = load_nb201().accuracy("cifar10_test_acc")
    cells = sorted(published)
    shuffled = np.random.default_rng(0).permutation([published[c] for c in cells])
    permuted = dict(zip(cells, map(float, shuffled), strict=True))
    a = _outcome(tmp_path, "a.db", published)  # separate databases: nothing is shared
    b = _outcome(tmp_path, "b.db", permuted)
    for row_a, row_b in zip(a["rows"], b["rows"], strict=True):
        for sa, sb in zip(row_a["searches"], row_b["searches"], strict=True):
            assert sa["returned"] == sb["returned"]
            assert [p[2] for p in sa["curve"]] == [p[2] for p in sb["curve"]]
            assert sa["evaluations"] == sb["evaluations"]
            assert sa["accuracy"] == published[sa["returned"]]
            assert sb["accuracy"] == permuted[sb["returned"]]
    returned = [s["returned"] for r in a["rows"] for s in r["searches"]]
    assert any(published[c] != permuted[c] for c in returned)  # the judge did change
    assert "rea params (rea)" in markdown(a) and "REA (NAS-Bench-201" in markdown(a)
    for row in a["rows"]:  # one seed: the medians are that search's wall clock and overhead
        (search,) = row["searches"]
        assert search["wall_seconds"] > 0
        assert row["median_wall_hours"] * 3600 == pytest.approx(search["wall_seconds"])
        assert row["median_overhead_hours"] * 3600 == pytest.approx(
            search["wall_seconds"] - search["charged_seconds"])
        assert f"| {row['median_wall_hours']:.3f} | {row['median_overhead_hours']:.3f} |" \
            in markdown(a)


def test_unknown_contender_is_refused_before_any_search(tmp_path):
    with pytest.raises(ValueError, match="unknown contender"):
        run_outcome(f"sqlite:///{tmp_path / 'x.db'}", OutcomeConfig(contenders=("nope",)),
                    data=DataConfig(path=str(tmp_path)), truth={})
    assert not (tmp_path / "x.db").exists()


def test_minus_previous_pairs_contenders_by_seed():
    def row(accs):
        return {"searches": [{"seed": s, "accuracy": a} for s, a in accs.items()]}

    first = row({0: 93.0, 1: 93.5, 2: 92.5, 3: 93.1})
    second = row({3: 94.0, 2: 93.5, 1: 93.6, 0: 93.4})  # another order: pairs by seed
    none, (diff, low, high) = minus_previous([first, second], n_resamples=200)
    assert none is None
    assert diff == pytest.approx((0.4 + 0.1 + 1.0 + 0.9) / 4)  # seeds 0-3, in order
    assert low <= diff <= high
    assert minus_previous([second, first])[1][0] == pytest.approx(-diff)
