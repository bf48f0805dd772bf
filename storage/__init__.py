"""Everything persistent: datasets, proxies, architectures, runs, searches (SQLAlchemy 2)."""

from storage.db import DB_ENV, Database, default_url
from storage.dialect import BACKENDS, exclusive, is_sqlite, optuna_engine_kwargs, sqlite_file
from storage.errors import DatabaseUnreachableError, StorageError
from storage.records import DatasetRecord, ProxyRecord, RunRecord
from storage.repository import (
    add_proxy,
    create_search,
    find_artifact,
    find_proxy,
    get_run,
    list_datasets,
    list_proxy_records,
    list_runs,
    record_run,
    upsert_dataset,
)
from storage.scores import ScoreRecord, get_score, list_scores, record_scores

__all__ = [
    "BACKENDS",
    "DB_ENV",
    "Database",
    "DatabaseUnreachableError",
    "DatasetRecord",
    "ProxyRecord",
    "RunRecord",
    "ScoreRecord",
    "StorageError",
    "add_proxy",
    "create_search",
    "default_url",
    "exclusive",
    "find_artifact",
    "find_proxy",
    "get_run",
    "get_score",
    "is_sqlite",
    "list_datasets",
    "list_proxy_records",
    "list_runs",
    "list_scores",
    "optuna_engine_kwargs",
    "record_run",
    "record_scores",
    "sqlite_file",
    "upsert_dataset",
]
