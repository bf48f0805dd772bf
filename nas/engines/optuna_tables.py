"""The one module that reads and writes Optuna's private database tables.

Optuna's public API has no query for the heartbeats of a study's running trials, so
``running_heartbeats`` reads its RDB storage's ORM models (``optuna.storages._rdb.models``)
directly; and ``Study.add_trials`` commits each trial and each of its parameters on its own,
so ``add_finished_trials`` writes a batch of trials in one transaction. What this relies on,
checked against the installed Optuna by tests/engines/test_optuna_tables.py, and why setup.py
caps ``optuna`` below its next major:
``TrialModel`` has ``trial_id``, ``study_id``, ``number`` (0, 1, ... in a study), ``state``
(a ``TrialState``) and ``datetime_start``/``datetime_complete`` columns (naive UTC);
``TrialHeartbeatModel`` has ``trial_id`` and ``heartbeat`` (naive, in the database session's
zone), one row per trial that beat, written by ``RDBStorage.record_heartbeat``;
``TrialValueModel`` (``objective``, ``value``, ``value_type``), ``TrialParamModel``
(``param_name``, ``param_value`` in the distribution's internal representation,
``distribution_json``) and ``TrialUserAttributeModel`` (``key``, ``value_json``) hold one row
per value, parameter and attribute of a trial; Optuna numbers a new trial with the study's
row locked (``StudyModel``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from optuna.distributions import distribution_to_json
from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage
from optuna.storages._rdb.models import (
    StudyModel,
    TrialHeartbeatModel,
    TrialModel,
    TrialParamModel,
    TrialUserAttributeModel,
    TrialValueModel,
)
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import func, insert, select
from sqlalchemy.exc import SQLAlchemyError


def running_heartbeats(storage: RDBStorage, study_id: int
                       ) -> tuple[datetime, dict[int, datetime | None]]:
    """The database's clock and, for each RUNNING trial of the study, its last heartbeat
    (None when it never beat), read in one query on Optuna's tables."""
    query = (select(TrialModel.trial_id, TrialHeartbeatModel.heartbeat, func.now())
             .outerjoin(TrialHeartbeatModel, TrialHeartbeatModel.trial_id == TrialModel.trial_id)
             .where(TrialModel.study_id == study_id, TrialModel.state == TrialState.RUNNING))
    with storage.engine.connect() as conn:
        rows = conn.execute(query).all()
        now = rows[0][2] if rows else conn.execute(select(func.now())).scalar()
    # PostgreSQL's now() is zone-aware, heartbeats are stored naive in the session's zone
    return now.replace(tzinfo=None), {trial_id: beat for trial_id, beat, _ in rows}


def add_finished_trials(storage: RDBStorage, study_id: int, trials: Sequence[FrozenTrial]
                        ) -> None:
    """Store ``trials`` (finished, one objective, as ``optuna.trial.create_trial`` makes them;
    their system attributes and intermediate values are not stored) in the study in one
    transaction, numbered in order after its trials: all of them or, on any error, none.
    ``Study.add_trials`` takes about 0.06 s a trial on SQLite, more than a zero-cost score
    costs. Call it under the study's lock, so that nothing else numbers trials meanwhile.

    Raises:
        StorageInternalError: the database refused the transaction (``retrying`` retries a
            locked SQLite file).
    """
    try:
        with storage.engine.begin() as conn:
            conn.execute(select(StudyModel.study_id).where(StudyModel.study_id == study_id)
                         .with_for_update())  # as Optuna numbers a trial (PostgreSQL)
            first = conn.scalar(select(func.count(TrialModel.trial_id))
                                .where(TrialModel.study_id == study_id))
            ids = conn.execute(
                insert(TrialModel.__table__).returning(TrialModel.trial_id,
                                                       sort_by_parameter_order=True),
                [{"study_id": study_id, "number": first + i, "state": t.state,
                  "datetime_start": _naive_utc(t.datetime_start),
                  "datetime_complete": _naive_utc(t.datetime_complete)}
                 for i, t in enumerate(trials)]).scalars().all()
            rows: dict[type, list[dict]] = {TrialValueModel: [], TrialParamModel: [],
                                            TrialUserAttributeModel: []}
            for trial_id, t in zip(ids, trials, strict=True):
                value, value_type = TrialValueModel.value_to_stored_repr(t.value)
                rows[TrialValueModel].append({"trial_id": trial_id, "objective": 0,
                                              "value": value, "value_type": value_type})
                rows[TrialParamModel] += [
                    {"trial_id": trial_id, "param_name": name,
                     "param_value": dist.to_internal_repr(t.params[name]),
                     "distribution_json": distribution_to_json(dist)}
                    for name, dist in t.distributions.items()]
                rows[TrialUserAttributeModel] += [
                    {"trial_id": trial_id, "key": k, "value_json": json.dumps(v)}
                    for k, v in t.user_attrs.items()]
            for model, batch in rows.items():
                if batch:
                    conn.execute(insert(model.__table__), batch)
    except SQLAlchemyError as exc:  # as Optuna's own storage calls raise it
        raise StorageInternalError(f"adding {len(trials)} trials failed: {exc}") from exc


def _naive_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)
