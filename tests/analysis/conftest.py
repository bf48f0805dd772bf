"""Fixtures for the analysis tests: a tiny image-folder dataset and the tiny preset's run."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import Database
from tests.datasets import write_image_folder


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("tiny-images"), n_train=24, n_test=10)


@pytest.fixture
def db(tmp_path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'nas.db'}")


@pytest.fixture(scope="session")
def tiny_bench(tiny_data, tmp_path_factory):
    """The ``tiny`` preset run once through the CLI: (database URL, report dir, data dir)."""
    from nas.cli import main

    root = tmp_path_factory.mktemp("tiny-bench")
    url, out = f"sqlite:///{root / 'nas.db'}", root / "report"
    with pytest.MonkeyPatch.context() as patch:  # as tests/conftest.py does per test
        patch.setenv("NAS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        patch.delenv("NAS_DB", raising=False)
        assert main(["bench", "fidelity", "--preset", "tiny", "--data", str(tiny_data),
                     "--db", url, "--out", str(out), "--threads", "1"]) == 0
    return url, out, tiny_data
