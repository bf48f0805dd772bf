"""Keeping studies in step with the run table: full-data accuracy once ground truth exists."""

from __future__ import annotations

import optuna
from sqlalchemy import inspect

from nas.core.outcome import RunStatus
from storage import Database, DatasetRecord, list_runs

OPTUNA_TABLE = "studies"


def attach_full_accuracy(db: Database, dataset: DatasetRecord) -> int:
    """Store ``{arch_id: {"val": .., "test": ..}}`` of the dataset's finished full-data runs as
    the ``full_accuracy`` user attribute of every study on that dataset (finished Optuna
    trials are immutable, so the mapping lives on the study). Returns the studies updated."""
    if not inspect(db.engine).has_table(OPTUNA_TABLE):
        return 0
    full = {r.arch_id: {"val": r.val_acc, "test": r.test_acc}
            for r in list_runs(db, dataset_id=dataset.id, full_data=True)
            if r.status == RunStatus.FINISHED}
    if not full:
        return 0
    updated = 0
    for summary in optuna.get_all_study_summaries(db.url, include_best_trial=False):
        if summary.user_attrs.get("dataset") != dataset.key:
            continue
        study = optuna.load_study(study_name=summary.study_name, storage=db.url)
        archs = {t.user_attrs.get("arch_id") for t in study.get_trials(deepcopy=False)}
        known = {a: acc for a, acc in full.items() if a in archs}
        if known and study.user_attrs.get("full_accuracy") != known:
            study.set_user_attr("full_accuracy", known)
            updated += 1
    return updated
