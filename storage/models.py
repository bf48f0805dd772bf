"""ORM tables (SQLAlchemy 2 typed declarative). Bump SCHEMA_VERSION on any change."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# 2: nas_scores (zero-cost baselines); 3: runs store macs, not "flops"; 4: runs store their
# learning curve (storage.db migrates a version-3 database in place)
SCHEMA_VERSION = 4


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Meta(Base):
    __tablename__ = "nas_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class Dataset(Base):
    """A prepared dataset: source content + preparation config (resize, classes, split)."""

    __tablename__ = "nas_datasets"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    source_path: Mapped[str] = mapped_column(String(1024))
    content_hash: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict] = mapped_column(JSON)
    summary: Mapped[dict] = mapped_column(JSON)  # classes, split sizes, shape, mean/std
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Proxy(Base):
    """A proxy training set (or a distilled artifact that generates one)."""

    __tablename__ = "nas_proxies"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("nas_datasets.id"))
    method: Mapped[str] = mapped_column(String(64))
    ipc: Mapped[int | None] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict] = mapped_column(JSON)
    artifact_path: Mapped[str | None] = mapped_column(String(1024))
    artifact_hash: Mapped[str | None] = mapped_column(String(64))
    build_seconds: Mapped[float] = mapped_column(Float)
    device: Mapped[str] = mapped_column(String(128))
    versions: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Architecture(Base):
    __tablename__ = "nas_architectures"
    __table_args__ = (UniqueConstraint("space", "arch_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    space: Mapped[str] = mapped_column(String(64))
    arch_id: Mapped[str] = mapped_column(String(128))
    params: Mapped[dict] = mapped_column(JSON)


class Search(Base):
    __tablename__ = "nas_searches"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    space: Mapped[str] = mapped_column(String(64))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("nas_datasets.id"))
    proxy_id: Mapped[int | None] = mapped_column(ForeignKey("nas_proxies.id"))
    strategy: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Run(Base):
    """One training of one architecture on one data source (a proxy, or the full split)."""

    __tablename__ = "nas_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    architecture_id: Mapped[int] = mapped_column(ForeignKey("nas_architectures.id"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("nas_datasets.id"))
    proxy_id: Mapped[int | None] = mapped_column(ForeignKey("nas_proxies.id"))  # None = full data
    search_id: Mapped[int | None] = mapped_column(ForeignKey("nas_searches.id"))
    seed: Mapped[int] = mapped_column(Integer)
    epochs: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict] = mapped_column(JSON)  # train config + evaluation options
    status: Mapped[str] = mapped_column(String(16))  # finished | diverged | pruned
    val_acc: Mapped[float | None] = mapped_column(Float)
    test_acc: Mapped[float | None] = mapped_column(Float)
    train_loss: Mapped[float | None] = mapped_column(Float)
    num_params: Mapped[int] = mapped_column(Integer)
    macs: Mapped[int] = mapped_column(Integer)  # multiply-accumulates per image
    wall_seconds: Mapped[float] = mapped_column(Float)
    device: Mapped[str] = mapped_column(String(128))
    versions: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    curve: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # learning curve


class Score(Base):
    """A zero-cost score of one architecture on one dataset (synflow, NASWOT, ...)."""

    __tablename__ = "nas_scores"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    architecture_id: Mapped[int] = mapped_column(ForeignKey("nas_architectures.id"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("nas_datasets.id"))
    method: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict] = mapped_column(JSON)  # batches, batch size, ...
    value: Mapped[float | None] = mapped_column(Float)  # None: undefined (e.g. singular kernel)
    wall_seconds: Mapped[float] = mapped_column(Float)
    device: Mapped[str] = mapped_column(String(128))
    versions: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
