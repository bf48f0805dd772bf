"""The one module that reads Optuna's private database tables.

Optuna's public API has no query for the heartbeats of a study's running trials, so
``running_heartbeats`` reads its RDB storage's ORM models (``optuna.storages._rdb.models``)
directly. What this relies on, checked against the installed Optuna by
tests/engines/test_optuna_tables.py, and why setup.py caps ``optuna`` below its next major:
``TrialModel`` has ``trial_id``, ``study_id`` and ``state`` (a ``TrialState``);
``TrialHeartbeatModel`` has ``trial_id`` and ``heartbeat`` (naive, in the database session's
zone), one row per trial that beat, written by ``RDBStorage.record_heartbeat``.
"""

from __future__ import annotations

from datetime import datetime

from optuna.storages import RDBStorage
from optuna.storages._rdb.models import TrialHeartbeatModel, TrialModel
from optuna.trial import TrialState
from sqlalchemy import func, select


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
