from pathlib import Path

import pytest
import torch

from tests.datasets import write_image_folder

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
