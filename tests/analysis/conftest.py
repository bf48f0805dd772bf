"""Fixtures for the analysis tests: a fresh SQLite database."""

from __future__ import annotations

import pytest

from storage import Database


@pytest.fixture
def db(tmp_path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'nas.db'}")
