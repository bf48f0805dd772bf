from pathlib import Path

import pytest
import torch

from tests.datasets import write_image_folder
from tests.postgres_fixture import postgres_server, postgres_url  # noqa: F401  (real server)

SHARED_CIFAR10 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session decodes into its own cache; tests never touch the user's."""
    monkeypatch.setenv("NAS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.delenv("NAS_DB", raising=False)
    monkeypatch.delenv("NAS_DATA", raising=False)
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def image_folder(tmp_path) -> Path:
    return write_image_folder(tmp_path / "folder")


@pytest.fixture
def cifar10_dir() -> Path:
    if not (SHARED_CIFAR10 / "train").is_dir():
        pytest.skip(f"real CIFAR-10 not found at {SHARED_CIFAR10}")
    return SHARED_CIFAR10


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("tiny-images"), n_train=24, n_test=10)


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

