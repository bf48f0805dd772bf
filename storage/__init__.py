"""Everything persistent: datasets, proxies, architectures, runs, searches (SQLAlchemy 2)."""

from storage.db import DB_ENV, Database, StorageError, default_url
from storage.records import DatasetRecord, ProxyRecord, RunRecord
from storage.repository import (
    add_proxy,
    create_search,
    find_proxy,
    get_run,
    list_datasets,
    list_proxies,
    list_runs,
    record_run,
    upsert_dataset,
)

__all__ = [
    "DB_ENV",
    "Database",
    "DatasetRecord",
    "ProxyRecord",
    "RunRecord",
    "StorageError",
    "add_proxy",
    "create_search",
    "default_url",
    "find_proxy",
    "get_run",
    "list_datasets",
    "list_proxies",
    "list_runs",
    "record_run",
    "upsert_dataset",
]
