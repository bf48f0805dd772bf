"""Files the toolkit loads cannot run code: a crafted pickle is refused or rebuilt, never run."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.core.data import DataError, load_raw
from tests.datasets import write_cifar_batches


class _RunsCode:
    """Unpickling this calls ``exec``: it writes ``marker`` if a loader lets it run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def test_crafted_dataset_cache_is_rebuilt_not_executed(image_folder, tmp_path):
    cache_dir, marker = tmp_path / "cache", tmp_path / "ran"
    first = load_raw(image_folder, cache_dir=cache_dir)
    (cache,) = (cache_dir / "datasets").glob("*.pt")
    torch.save(_RunsCode(marker), cache)  # a torch zip whose pickle calls exec
    again = load_raw(image_folder, cache_dir=cache_dir)
    assert not marker.exists()
    assert torch.equal(again.train_images, first.train_images)
    assert again.class_names == first.class_names
    assert torch.load(cache, weights_only=True)["content_hash"] == first.content_hash  # rebuilt


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch notes the foreign file
def test_plain_pickle_in_the_dataset_cache_is_rebuilt_not_executed(image_folder, tmp_path):
    cache_dir, marker = tmp_path / "cache", tmp_path / "ran"
    load_raw(image_folder, cache_dir=cache_dir)
    (cache,) = (cache_dir / "datasets").glob("*.pt")
    cache.write_bytes(pickle.dumps(_RunsCode(marker)))
    assert load_raw(image_folder, cache_dir=cache_dir).format == "image-folder"
    assert not marker.exists()


def test_crafted_cifar_batch_is_refused_not_executed(tmp_path):
    root, marker = write_cifar_batches(tmp_path / "cifar-10-batches-py"), tmp_path / "ran"
    (root / "data_batch_3").write_bytes(pickle.dumps({b"data": _RunsCode(marker)}))
    with pytest.raises(DataError, match="data_batch_3.*refusing to load builtins.exec"):
        load_raw(root, cache_dir=tmp_path / "cache")
    assert not marker.exists()


def test_cifar_batches_pickled_by_python2_and_numpy1_still_load(tmp_path):
    """The official batches: protocol 2, numpy.core module names, bytes keys."""
    root = write_cifar_batches(tmp_path / "cifar-10-batches-py")
    rng = np.random.default_rng(0)
    batch = {b"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 0],
             b"batch_label": b"training batch 1 of 5", b"filenames": [b"a.png"] * 4}
    blob = pickle.dumps(batch, protocol=2).replace(b"numpy._core.multiarray",
                                                   b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in blob
    (root / "data_batch_1").write_bytes(blob)
    raw = load_raw(root, cache_dir=tmp_path / "cache")
    assert torch.equal(raw.train_images[:4].reshape(4, -1), torch.from_numpy(batch[b"data"]))
