"""Storage primitives on top of ``Database``; everything else is built on these."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import Architecture, Dataset, Proxy, Run, Search
from storage.records import DatasetRecord, ProxyRecord, RunRecord


def _dataset_record(row: Dataset) -> DatasetRecord:
    return DatasetRecord(row.id, row.key, row.source_path, row.config, row.summary)


def _proxy_record(row: Proxy) -> ProxyRecord:
    return ProxyRecord(row.id, row.key, row.dataset_id, row.method, row.ipc, row.seed, row.params,
                       row.artifact_path, row.artifact_hash, row.build_seconds, row.device,
                       row.created_at)


def _run_record(row: Run, arch: Architecture) -> RunRecord:
    return RunRecord(row.key, arch.space, arch.arch_id, row.dataset_id, row.proxy_id, row.seed,
                     row.epochs, row.config, row.status, row.val_acc, row.test_acc,
                     row.train_loss, row.num_params, row.macs, row.wall_seconds, row.device,
                     row.versions, row.search_id, row.curve)


def upsert_dataset(db: Database, *, key: str, source_path: str, content_hash: str,
                   config: dict, summary: dict) -> DatasetRecord:
    with db.session() as s:
        row = s.scalar(select(Dataset).where(Dataset.key == key))
        if row is None:
            row = Dataset(key=key, source_path=source_path, content_hash=content_hash,
                          config=config, summary=summary)
            s.add(row)
            s.flush()
        return _dataset_record(row)


def list_datasets(db: Database) -> list[DatasetRecord]:
    with db.session() as s:
        return [_dataset_record(r) for r in s.scalars(select(Dataset).order_by(Dataset.id))]


def find_proxy(db: Database, key: str) -> ProxyRecord | None:
    with db.session() as s:
        row = s.scalar(select(Proxy).where(Proxy.key == key))
        return _proxy_record(row) if row else None


def add_proxy(db: Database, **fields) -> ProxyRecord:
    """Insert a proxy row (fields of ``storage.models.Proxy``) and return its record."""
    with db.session() as s:
        row = Proxy(**fields)
        s.add(row)
        s.flush()
        return _proxy_record(row)


def list_proxy_records(db: Database, dataset_id: int | None = None) -> list[ProxyRecord]:
    """Stored proxy rows (sets and artifacts), oldest first."""
    with db.session() as s:
        query = select(Proxy).order_by(Proxy.id)
        if dataset_id is not None:
            query = query.where(Proxy.dataset_id == dataset_id)
        return [_proxy_record(r) for r in s.scalars(query)]


def find_artifact(db: Database, dataset_id: int, kind: str, prefix: str = ""
                  ) -> ProxyRecord | None:
    """The newest stored artifact of ``kind`` for the dataset whose content hash starts with
    ``prefix`` (any, when empty); None when there is none."""
    rows = [p for p in list_proxy_records(db, dataset_id)
            if p.method == kind and (p.artifact_hash or "").startswith(prefix)]
    return rows[-1] if rows else None


def create_search(db: Database, *, name: str, space: str, dataset_id: int, proxy_id: int | None,
                  strategy: str, seed: int, config: dict) -> int:
    """Create the search row, or return the existing one's id (a re-run resumes it)."""
    with db.session() as s:
        row = s.scalar(select(Search).where(Search.name == name))
        if row is None:
            row = Search(name=name, space=space, dataset_id=dataset_id, proxy_id=proxy_id,
                         strategy=strategy, seed=seed, config=config)
            s.add(row)
            s.flush()
        return row.id


def _architecture(s: Session, space: str, arch_id: str, params: dict) -> Architecture:
    row = s.scalar(select(Architecture).where(Architecture.space == space,
                                              Architecture.arch_id == arch_id))
    if row is None:
        row = Architecture(space=space, arch_id=arch_id, params=params)
        s.add(row)
        s.flush()
    return row


def upsert_by_key(s: Session, model: type, key: str, values: dict) -> None:
    """Insert the ``model`` row with ``key`` or overwrite its ``values`` (inside session ``s``)."""
    row = s.scalar(select(model).where(model.key == key))
    if row is None:
        row = model(key=key)
        s.add(row)
    for name, value in values.items():
        setattr(row, name, value)


def get_run(db: Database, key: str) -> RunRecord | None:
    with db.session() as s:
        found = s.execute(select(Run, Architecture).join(Architecture)
                          .where(Run.key == key)).first()
        return _run_record(*found) if found else None


def record_run(db: Database, run: RunRecord, arch_params: dict) -> None:
    """Insert or replace the run with ``run.key`` in one transaction."""
    with db.session() as s:
        arch = _architecture(s, run.space, run.arch_id, arch_params)
        fields = ("dataset_id", "proxy_id", "search_id", "seed", "epochs", "config", "status",
                  "val_acc", "test_acc", "train_loss", "num_params", "macs", "wall_seconds",
                  "device", "versions", "curve")
        upsert_by_key(s, Run, run.key,
                      {**{n: getattr(run, n) for n in fields}, "architecture_id": arch.id})


def list_runs(db: Database, *, dataset_id: int | None = None, proxy_id: int | None = None,
              full_data: bool = False, search_id: int | None = None) -> list[RunRecord]:
    """Runs filtered by dataset, by data source (a proxy, or ``full_data``) and by search."""
    with db.session() as s:
        query = select(Run, Architecture).join(Architecture).order_by(Run.id)
        if dataset_id is not None:
            query = query.where(Run.dataset_id == dataset_id)
        if full_data:
            query = query.where(Run.proxy_id.is_(None))
        elif proxy_id is not None:
            query = query.where(Run.proxy_id == proxy_id)
        if search_id is not None:
            query = query.where(Run.search_id == search_id)
        return [_run_record(run, arch) for run, arch in s.execute(query)]
