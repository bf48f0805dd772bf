"""Strategies land in the study and the run table: TPE, pruning, NNI, grid resume, errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from optuna.trial import TrialState

from nas.core.data import DataConfig
from nas.core.trainer import TrainConfig
from nas.engines import SearchConfig, SearchJob, attach_full_accuracy, run_search, strategies
from nas.engines.nni_engine import MissingExtraError
from nas.engines.session import open_search
from storage import Database, list_runs
from tests.engines.support import (
    CHEAP_ARCHS,
    cli_env,
    complete_per_arch,
    only_study,
    search_cmd,
    write_tiny_folder,
)
from tests.test_docs import ROOT, _prose_and_blocks

TINY_TRAIN = TrainConfig(epochs=1)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """(data config, SQLite URL) in a temp dir, with the decode cache kept there too."""
    monkeypatch.setenv("NAS_CACHE", str(tmp_path / "cache"))
    data = DataConfig(path=str(write_tiny_folder(tmp_path / "data")))
    return data, f"sqlite:///{tmp_path / 'nas.db'}"


def _job(tiny, **search) -> SearchJob:
    data, url = tiny
    return SearchJob(url, data, SearchConfig(ipc=4, train=search.pop("train", TINY_TRAIN),
                                             **search))


def _assert_trials_have_runs(url: str, summary) -> None:
    runs = {r.key: r for r in list_runs(Database(url), search_id=summary.search_id)}
    for t in summary.trials:
        if t.state == TrialState.COMPLETE:
            run = runs[t.user_attrs["run_key"]]
            assert run.arch_id == t.user_attrs["arch_id"]
            assert run.val_acc == t.value


def test_tpe_search_records_trials_and_runs(tiny):
    summary = run_search(_job(tiny, strategy="tpe", trials=3), progress=False)
    url = tiny[1]
    assert [t.state for t in summary.trials] == [TrialState.COMPLETE] * 3
    assert summary.study_name == "convnet720/random-ipc4/tpe/seed0"
    for t in summary.trials:
        assert {"arch_id", "proxy", "seed", "val_acc", "test_acc", "wall_seconds",
                "status"} <= set(t.user_attrs)
        assert t.user_attrs["proxy"] == "random-ipc4"
    _assert_trials_have_runs(url, summary)
    assert only_study(url).user_attrs["search_id"] == summary.search_id


def test_tpe_suggestions_repeat_for_the_same_seed(tmp_path, tiny):
    first = run_search(_job(tiny, strategy="tpe", trials=3, study="a"), progress=False)
    again = run_search(_job(tiny, strategy="tpe", trials=3, study="b"), progress=False)
    other = run_search(_job(tiny, strategy="tpe", trials=3, study="c", seed=1), progress=False)

    def archs(s):
        return [t.user_attrs["arch_id"] for t in s.trials]

    assert archs(first) == archs(again)
    assert archs(first) != archs(other)


def test_pruning_reports_validation_accuracy_every_epoch(tiny):
    train = TrainConfig(epochs=3, report_every=1)
    summary = run_search(_job(tiny, strategy="tpe", trials=3, prune="median", train=train),
                         progress=False)
    for t in summary.trials:
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        assert 1 in t.intermediate_values  # epoch 1 was reported to the pruner


def test_grid_rerun_resumes_without_new_trials(tiny):
    job = _job(tiny, strategy="grid", archs=tuple(CHEAP_ARCHS[:3]))
    first = run_search(job, progress=False)
    again = run_search(job, progress=False)
    assert [t.number for t in again.trials] == [t.number for t in first.trials]
    assert complete_per_arch(only_study(tiny[1])) == {a: 1 for a in CHEAP_ARCHS[:3]}


def test_study_with_other_settings_is_refused(tiny):
    run_search(_job(tiny, strategy="grid", archs=tuple(CHEAP_ARCHS[:1])), progress=False)
    changed = _job(tiny, strategy="grid", archs=tuple(CHEAP_ARCHS[:1]),
                   train=TrainConfig(epochs=2))
    with pytest.raises(ValueError, match="already exists with different train"):
        open_search(changed)


def test_ground_truth_reaches_the_study(tiny):
    from nas import api

    job = _job(tiny, strategy="grid", archs=tuple(CHEAP_ARCHS[:2]))
    session = open_search(job)
    run_search(job, progress=False)
    plan = api.EvaluationPlan("convnet720", CHEAP_ARCHS[:2], TINY_TRAIN)
    full = api.evaluate_architectures(session.db, session.data, session.dataset, None, plan,
                                      progress=False)
    assert attach_full_accuracy(session.db, session.dataset) == 1
    known = only_study(tiny[1]).user_attrs["full_accuracy"]
    assert known == {r.arch_id: {"val": r.val_acc, "test": r.test_acc} for r in full}
    later = run_search(_job(tiny, strategy="grid", archs=tuple(CHEAP_ARCHS[:1]), study="x"),
                       progress=False)
    assert later.trials[0].user_attrs["full_val_acc"] == full[0].val_acc


def test_nni_evolution_search_lands_in_study_and_runs(tiny):
    pytest.importorskip("nni.nas.experiment", reason="NNI extra not installed "
                        "(pip install -e .[nni])")
    summary = run_search(_job(tiny, strategy="nni-evolution", trials=3), progress=False)
    assert len(summary.trials) == 3
    assert all(t.state == TrialState.COMPLETE for t in summary.trials)
    _assert_trials_have_runs(tiny[1], summary)
    home = Database(tiny[1]).home
    assert (home / "nni-experiments").is_dir()


def test_nni_strategy_without_nni_names_the_extra(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "nni", None)  # makes `import nni` fail
    with pytest.raises(MissingExtraError, match=r"pip install -e \.\[nni\]"):
        run_search(_job(tiny, strategy="nni-random", trials=1), progress=False)


def test_unknown_strategy_exits_2_and_leaves_no_database(tmp_path):
    data = write_tiny_folder(tmp_path / "data")
    db = tmp_path / "fresh.db"
    done = subprocess.run(search_cmd(data, f"sqlite:///{db}", "--strategy", "annealing"),
                          cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert "unknown strategy 'annealing'" in done.stderr and "tpe" in done.stderr
    assert not db.exists()


def test_where_restricts_what_tpe_samples(tiny):
    from nas.core.selection import select_architectures
    from search_spaces import get_space

    archs = tuple(select_architectures(get_space("convnet720"),
                                       where=["depth=1", "width=32", "norm=none,batch"]))
    summary = run_search(_job(tiny, strategy="tpe", trials=3, archs=archs), progress=False)
    for t in summary.trials:
        assert t.distributions["width"].choices == (32,)
        assert set(t.distributions["norm"].choices) == {"none", "batch"}
        assert t.user_attrs["arch_id"] in archs


def test_a_search_can_rank_its_runs_by_a_learning_curve_score(tiny):
    job = _job(tiny, archs=tuple(CHEAP_ARCHS[:2]), train=TrainConfig(epochs=2),
               score="sotl-e")
    run_search(job, progress=False)
    study = only_study(job.db_url)
    assert study.metric_names == ["proxy sotl-e"]  # the dashboard names what it ranks by
    runs = {r.key: r for r in list_runs(Database(job.db_url)) if r.proxy_id is not None}
    trials = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(trials) == 2
    for trial in trials:  # minus the last epoch's training loss of the run it trained
        assert trial.value == -runs[trial.user_attrs["run_key"]].curve["train_loss"][-1]
    with pytest.raises(ValueError, match="unknown --score"):
        SearchConfig(score="loss")


def test_the_documented_strategy_example_registers_and_searches(tiny, monkeypatch):
    """docs/api.md's strategy example, run as written: it files a strategy that a search then
    runs to its --trials, each trial a real training."""
    monkeypatch.setattr(strategies.STRATEGIES, "_entries", dict(strategies.STRATEGIES._entries))
    _, blocks = _prose_and_blocks((ROOT / "docs" / "api.md").read_text(encoding="utf-8"))
    (example,) = ["\n".join(lines) for language, lines in blocks
                  if language == "python" and "register_strategy(" in "\n".join(lines)]
    exec(compile(example, "docs/api.md", "exec"), {})
    assert "uniform" in strategies.list_strategies("uni*")
    job = _job(tiny, strategy="uniform", trials=2, archs=tuple(CHEAP_ARCHS))
    summary = run_search(job, progress=False)
    assert [t.state for t in summary.trials] == [TrialState.COMPLETE] * 2
    assert {t.user_attrs["arch_id"] for t in summary.trials} <= set(CHEAP_ARCHS)
