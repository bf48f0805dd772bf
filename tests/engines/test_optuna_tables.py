"""What nas/engines/optuna_tables.py assumes of the installed Optuna's private tables, checked
on a real SQLite study: the query finds each RUNNING trial, its heartbeat once it beat, and
nothing of finished trials or other studies; trials written in one transaction read back
through Optuna's own API (SQLite and a real PostgreSQL server); and no other module imports
those tables."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from nas.engines.optuna_tables import add_finished_trials, running_heartbeats
from nas.engines.study import make_storage
from nas.engines.worker import ask

ROOT = Path(__file__).resolve().parents[2]
PRIVATE = re.compile(r"^\s*(from|import)\s+optuna\.storages\._rdb", re.M)


def test_running_heartbeats_reads_the_running_trials_of_one_study(tmp_path):
    storage = make_storage(f"sqlite:///{tmp_path / 'optuna.db'}", heartbeat_seconds=60)
    study = optuna.create_study(storage=storage, study_name="watched")
    other = optuna.create_study(storage=storage, study_name="other")
    silent, beating, finished = (ask(study) for _ in range(3))
    study.tell(finished, 1.0)
    ask(other)
    study_id = storage.get_study_id_from_name("watched")
    silent_id, beating_id = (storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
                             for t in (silent, beating))
    storage.record_heartbeat(beating_id)

    now, beats = running_heartbeats(storage, study_id)

    assert set(beats) == {silent_id, beating_id}
    assert beats[silent_id] is None
    beat = beats[beating_id]
    assert isinstance(beat, datetime) and isinstance(now, datetime) and now.tzinfo is None
    assert abs(now - beat) < timedelta(minutes=1)  # both on the database's clock
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING, TrialState.RUNNING,
                                                    TrialState.COMPLETE]


def test_a_study_without_running_trials_still_gets_the_clock(tmp_path):
    storage = make_storage(f"sqlite:///{tmp_path / 'optuna.db'}", heartbeat_seconds=60)
    optuna.create_study(storage=storage, study_name="idle")
    now, beats = running_heartbeats(storage, storage.get_study_id_from_name("idle"))
    assert beats == {} and isinstance(now, datetime)


def test_only_the_adapter_imports_optunas_private_tables():
    importers = [str(path.relative_to(ROOT)) for folder in ("nas", "proxies", "storage",
                                                            "search_spaces", "benchmarks")
                 for path in sorted((ROOT / folder).rglob("*.py"))
                 if PRIVATE.search(path.read_text(encoding="utf-8"))]
    assert importers == ["nas/engines/optuna_tables.py"]


@pytest.fixture(params=["sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'optuna.db'}"


EDGES = {f"edge{i}": CategoricalDistribution(("none", "skip", "conv")) for i in range(3)}


def _trial(i: int, value: float) -> optuna.trial.FrozenTrial:
    levels = EDGES["edge0"].choices
    return optuna.trial.create_trial(
        params={name: levels[(i + k) % 3] for k, name in enumerate(EDGES)},
        distributions=EDGES, value=value,
        user_attrs={"arch_id": f"cell{i}", "values": {"params": i, "naswot": None}})


def _study(url: str) -> tuple[optuna.Study, RDBStorage, int]:
    storage = make_storage(url, 60)
    study = optuna.create_study(storage=storage, direction="maximize")
    return study, storage, storage.get_study_id_from_name(study.study_name)


def test_added_trials_read_back_as_given_numbered_after_the_study_s_own(url):
    study, storage, study_id = _study(url)
    study.enqueue_trial({"edge0": "conv"})  # a trial Optuna numbered itself
    given = [_trial(i, v) for i, v in enumerate([0.5, -math.inf, 2.0, math.inf])]
    add_finished_trials(storage, study_id, given)

    waiting, *added = study.get_trials()
    assert waiting.state == TrialState.WAITING and waiting.number == 0
    assert [t.number for t in added] == [1, 2, 3, 4]
    for got, want in zip(added, given, strict=True):
        assert (got.state, got.value, got.params, got.distributions, got.user_attrs,
                got.datetime_start, got.datetime_complete) == \
            (want.state, want.value, want.params, want.distributions, want.user_attrs,
             want.datetime_start, want.datetime_complete)
    assert study.best_trial.number == 4  # +inf, as Optuna stores it
    assert ask(study).number == 0  # the waiting trial, then Optuna numbers after the added
    assert ask(study).number == 5


def test_a_trial_that_cannot_be_stored_stores_none_of_its_batch(url):
    study, storage, study_id = _study(url)
    bad = _trial(1, 1.0)
    bad.params["edge1"] = "pool"  # not one of the distribution's levels
    with pytest.raises(ValueError):
        add_finished_trials(storage, study_id, [_trial(0, 0.0), bad])
    assert study.get_trials() == []
