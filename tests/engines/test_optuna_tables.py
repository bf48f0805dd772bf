"""What nas/engines/optuna_tables.py assumes of the installed Optuna's private tables, checked
on a real SQLite study: the query finds each RUNNING trial, its heartbeat once it beat, and
nothing of finished trials or other studies; and no other module imports those tables."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import optuna
from optuna.trial import TrialState

from nas.engines.optuna_tables import running_heartbeats
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
