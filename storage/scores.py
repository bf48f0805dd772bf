"""Zero-cost scores of architectures: record and list them (table ``nas_scores``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from storage.db import Database
from storage.models import Architecture, Score
from storage.repository import _architecture, upsert_by_key


@dataclass(frozen=True)
class ScoreRecord:
    key: str
    space: str
    arch_id: str
    dataset_id: int
    method: str
    seed: int
    config: dict
    value: float | None
    wall_seconds: float
    device: str
    versions: dict


def _score_record(row: Score, arch: Architecture) -> ScoreRecord:
    return ScoreRecord(row.key, arch.space, arch.arch_id, row.dataset_id, row.method, row.seed,
                       row.config, row.value, row.wall_seconds, row.device, row.versions)


def get_score(db: Database, key: str) -> ScoreRecord | None:
    with db.session() as s:
        found = s.execute(select(Score, Architecture).join(Architecture)
                          .where(Score.key == key)).first()
        return _score_record(*found) if found else None


def record_scores(db: Database, scores: Sequence[tuple[ScoreRecord, dict]]) -> None:
    """Insert or replace each score (with its architecture's params) by ``score.key``, all
    in one transaction."""
    fields = ("dataset_id", "method", "seed", "config", "value", "wall_seconds", "device",
              "versions")
    with db.session() as s:
        for score, arch_params in scores:
            arch = _architecture(s, score.space, score.arch_id, arch_params)
            upsert_by_key(s, Score, score.key,
                          {**{n: getattr(score, n) for n in fields}, "architecture_id": arch.id})


def list_scores(db: Database, *, dataset_id: int, method: str | None = None
                ) -> list[ScoreRecord]:
    """Scores on a dataset, optionally of one method, in insertion order."""
    with db.session() as s:
        query = (select(Score, Architecture).join(Architecture)
                 .where(Score.dataset_id == dataset_id).order_by(Score.id))
        if method is not None:
            query = query.where(Score.method == method)
        return [_score_record(row, arch) for row, arch in s.execute(query)]
