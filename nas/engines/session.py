"""Joining a search: data, proxy, search row and Optuna study, set up once under a lock."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from functools import cached_property

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage

from nas import api
from nas.core.data import PreparedData
from nas.core.elf import feature_network
from nas.engines.config import SearchConfig, SearchJob
from nas.engines.study import default_study_name, make_storage, retrying
from nas.errors import InputError
from storage import (
    Database,
    DatasetRecord,
    ProxyRecord,
    create_search,
    exclusive,
    sqlite_file,
)

SETUP_LOCK = "nas-search-setup"
PRUNERS = {
    "median": lambda cfg: optuna.pruners.MedianPruner(n_startup_trials=2),
    "hyperband": lambda cfg: optuna.pruners.HyperbandPruner(
        min_resource=max(cfg.train.report_every, 1), max_resource=cfg.train.epochs),
}


# strategies that measure fidelities: these settings of theirs are part of a study's identity
# (the budget may change); other strategies' studies keep the identity they were made with
MEASURING_STRATEGIES = ("rea", "sh")
SEARCH_FIELDS = ("rea_score", "fidelities", "population", "sample", "bracket", "eta", "train_seed")
PROXY_OBJECTIVE = "proxy val acc"  # what a trial returns: val accuracy after proxy training
FULL_OBJECTIVE = "full-data val acc"  # the same on the full training split


def study_lock_name(study_name: str) -> str:
    return f"nas-study:{study_name}"


def objective_name(proxy: ProxyRecord | None, config: SearchConfig | None = None) -> str:
    """The name of what a study's trials return, shown by the dashboard and dataframes:
    the validation accuracy after training, another learning-curve score (``--score``), or
    for rea and sh the score of the fidelity a trial measured."""
    if config is not None and config.strategy in MEASURING_STRATEGIES:
        scores = (config.rea_score,) if config.strategy == "rea" else config.fidelities
        return f"{'/'.join(scores)} score"
    name = PROXY_OBJECTIVE if proxy is not None else FULL_OBJECTIVE
    if config is not None and config.score != "final-val":
        name = name.replace("val acc", config.score)
    return name


def _name_objective(study: optuna.Study, name: str) -> None:
    if study.metric_names != [name]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)  # experimental since 3.2
            study.set_metric_names([name])


@dataclass
class SearchSession:
    """One process's handle on a search: the database, data, proxy, search row and study."""

    job: SearchJob
    db: Database
    data: PreparedData
    dataset: DatasetRecord
    proxy: ProxyRecord | None
    search_id: int
    storage: RDBStorage
    study: optuna.Study

    @property
    def study_id(self) -> int:
        return self.storage.get_study_id_from_name(self.study.study_name)

    @property
    def config(self) -> SearchConfig:
        return self.job.search

    @property
    def url(self) -> str:
        return self.job.db_url

    @property
    def source(self) -> str:
        return api.source_label(self.proxy, self.config.elf)

    def lock(self):
        """The study's cross-process lock: trial hand-out and re-queueing run under it."""
        return exclusive(self.url, study_lock_name(self.study.study_name))

    @cached_property
    def evaluator(self) -> api.Evaluator:
        return api.Evaluator(self.db, self.data, self.dataset, self.proxy, self.config.elf)

    @cached_property
    def full_evaluator(self) -> api.Evaluator:
        """Trains on the whole training split (the ``full:<epochs>`` fidelity)."""
        return api.Evaluator(self.db, self.data, self.dataset, None)


def _identity(config: SearchConfig, dataset: DatasetRecord, proxy: ProxyRecord | None) -> dict:
    """What must match for a worker to join an existing study (the budget may change)."""
    archs = hashlib.blake2b(json.dumps(list(config.archs)).encode(), digest_size=8).hexdigest()
    return {"dataset": dataset.key, "source": proxy.key if proxy else api.FULL,
            "space": config.space, "strategy": config.strategy, "seed": config.seed,
            "train": config.train.to_dict(), "prune": config.prune, "archs": archs,
            "elf": config.elf.to_dict() if config.elf else None,
            # studies made before --score existed ranked by the final validation accuracy
            **({"score": config.score} if config.score != "final-val" else {}),
            **({"search": json.loads(json.dumps({k: getattr(config, k) for k in SEARCH_FIELDS}))}
               if config.strategy in MEASURING_STRATEGIES else {})}


def _check_or_store_identity(study: optuna.Study, identity: dict) -> None:
    stored = study.user_attrs.get("identity")
    if stored is None:
        study.set_user_attr("identity", identity)
    elif stored != identity:
        diff = sorted(k for k in identity if stored.get(k) != identity[k])
        raise InputError(f"study {study.study_name!r} already exists with different "
                         f"{', '.join(diff)}; pass --study NEW_NAME or the original settings")


def open_search(job: SearchJob, data: PreparedData | None = None) -> SearchSession:
    """Join (creating on first use) the search ``job`` describes; safe when many processes on
    many hosts call it at once: every step runs under a lock on the shared database.

    Raises:
        InputError: the study exists with other settings, or an unknown pruner.
        DataError, UnknownNameError, StorageError: from the data, proxy and storage layers.
    """
    config = job.search
    if config.prune is not None and config.prune not in PRUNERS:
        raise InputError(f"unknown pruner {config.prune!r}; choose one of {sorted(PRUNERS)}")
    request = config.proxy_request
    database_file = sqlite_file(job.db_url)
    if request.imported and database_file is not None and not database_file.exists():
        raise api.unknown_set(config.proxy, [])  # before the data is read
    data = data or api.load_data(job.data)  # bad data fails before the database is touched
    with exclusive(job.db_url, SETUP_LOCK):
        db = api.open_checked(job.db_url, request, data.key)
        dataset = api.register_dataset(db, data)
        proxy = api.build_proxy(db, data, dataset, config.proxy, ipc=config.ipc,
                                seed=config.proxy_seed, artifact=config.artifact
                                ) if request.spec.uses_ipc else None
        if config.elf is not None:  # trained once here, read from disk by every worker
            feature_network(data, config.elf, db.home / "artifacts")
        storage = make_storage(job.db_url, config.heartbeat_seconds)  # creates Optuna's tables
    label = api.source_label(proxy, config.elf)
    name = config.study or default_study_name(config.space, label, config.strategy, config.seed)
    with exclusive(job.db_url, study_lock_name(name)):
        pruner = PRUNERS[config.prune](config) if config.prune else optuna.pruners.NopPruner()
        study = retrying(lambda: optuna.create_study(
            study_name=name, storage=storage, direction="maximize", pruner=pruner,
            load_if_exists=True), job.db_url)
        identity = _identity(config, dataset, proxy)
        _check_or_store_identity(study, identity)
        _name_objective(study, objective_name(proxy, config))
        search_id = create_search(db, name=name, space=config.space, dataset_id=dataset.id,
                                  proxy_id=proxy.id if proxy else None, strategy=config.strategy,
                                  seed=config.seed, config=config.to_dict())
        summary = {**config.to_dict(), "archs": len(config.archs) or "all"}
        for key, value in {"search_id": search_id, "proxy": label, "dataset": dataset.key,
                           "protocol": config.train.protocol(), "config": summary}.items():
            if study.user_attrs.get(key) != value:
                study.set_user_attr(key, value)
    return SearchSession(job, db, data, dataset, proxy, search_id, storage, study)
