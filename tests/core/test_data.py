import hashlib
import shutil
from pathlib import Path

import pytest
import torch

import nas
from nas.core.data import DataConfig, DataError, load_raw, portable_path, prepare
from nas.core.data.source import download_cifar10
from tests.datasets import CLASS_NAMES, write_cifar_batches, write_idx, write_image_folder


def test_image_folder_decodes_to_uint8_with_sorted_class_names(image_folder):
    raw = load_raw(image_folder)
    assert raw.format == "image-folder"
    assert raw.train_images.dtype == torch.uint8
    assert raw.train_images.shape == (60, 3, 16, 16)
    assert raw.test_images.shape == (18, 3, 16, 16)
    assert raw.class_names == tuple(sorted(CLASS_NAMES))
    assert torch.bincount(raw.train_labels).tolist() == [20, 20, 20]


def test_grey_image_folder_has_one_channel(tmp_path):
    raw = load_raw(write_image_folder(tmp_path / "grey", grey=True))
    assert raw.train_images.shape[1] == 1


def test_cifar_batches_are_read_in_channel_first_order(tmp_path):
    raw = load_raw(write_cifar_batches(tmp_path / "cifar-10-batches-py"))
    assert raw.format == "cifar-batches"
    assert raw.train_images.shape == (60, 3, 32, 32)
    assert raw.class_names == CLASS_NAMES
    # class c is bright in channel c: the channel means must say so
    means = raw.train_images.float().mean(dim=(2, 3))
    for c in range(3):
        assert means[raw.train_labels == c].mean(0).argmax() == c


@pytest.mark.parametrize("compress", [True, False])
def test_idx_files_load_as_grey_images(tmp_path, compress):
    raw = load_raw(write_idx(tmp_path / "mnist", compress=compress))
    assert raw.format == "idx"
    assert raw.train_images.shape == (30, 1, 28, 28)
    assert raw.test_labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_changed_source_is_read_again(tmp_path):
    root = write_image_folder(tmp_path / "f")
    first = load_raw(root)
    (root / "train" / "red" / "0000.png").unlink()
    second = load_raw(root)
    assert first.content_hash != second.content_hash
    assert len(second.train_labels) == len(first.train_labels) - 1


def test_cached_load_returns_identical_tensors(image_folder):
    first, second = load_raw(image_folder), load_raw(image_folder)
    assert torch.equal(first.train_images, second.train_images)


@pytest.mark.parametrize("make_bad", ["missing", "empty", "corrupt_image", "corrupt_idx"])
def test_bad_data_raises_data_error_naming_the_path(tmp_path, make_bad):
    root = tmp_path / "data"
    if make_bad == "empty":
        root.mkdir()
    elif make_bad == "corrupt_image":
        write_image_folder(root)
        (root / "train" / "red" / "0001.png").write_bytes(b"not a png")
    elif make_bad == "corrupt_idx":
        write_idx(root, compress=False)
        (root / "train-images-idx3-ubyte").write_bytes(b"\x01\x02\x03\x04garbage")
    with pytest.raises(DataError) as info:
        load_raw(root)
    assert str(root) in str(info.value)


def test_split_is_stratified_deterministic_and_disjoint(image_folder):
    raw = load_raw(image_folder)
    cfg = DataConfig(path=str(image_folder), val_fraction=0.25, split_seed=3)
    a, b = prepare(raw, cfg), prepare(raw, cfg)
    assert torch.equal(a.val_images, b.val_images)
    assert torch.bincount(a.val_labels).tolist() == [5, 5, 5]
    assert torch.bincount(a.train_labels).tolist() == [15, 15, 15]
    train_rows = {tuple(x.flatten().tolist()) for x in a.train_images}
    assert not any(tuple(x.flatten().tolist()) in train_rows for x in a.val_images)
    other = prepare(raw, DataConfig(path=str(image_folder), val_fraction=0.25, split_seed=4))
    assert not torch.equal(a.val_images, other.val_images)


def test_resize_subsample_and_class_selection(image_folder):
    raw = load_raw(image_folder)
    cfg = DataConfig(path=str(image_folder), resize=8, classes=("green", "red"), per_class=10,
                     test_per_class=2, val_fraction=0.2)
    data = prepare(raw, cfg)
    assert data.train_images.shape == (16, 3, 8, 8)
    assert data.class_names == ("green", "red")
    assert sorted(data.train_labels.unique().tolist()) == [0, 1]
    assert len(data.test_labels) == 4
    assert data.normalize(data.train_images).dtype == torch.float32


def test_unknown_class_is_rejected(image_folder):
    with pytest.raises(DataError, match="unknown class"):
        prepare(load_raw(image_folder), DataConfig(path=str(image_folder), classes=("cat",)))


def _tar_cifar(tmp_path):
    write_cifar_batches(tmp_path / "src" / "cifar-10-batches-py")
    archive = shutil.make_archive(str(tmp_path / "cifar-10-python"), "gztar", tmp_path / "src")
    return archive, hashlib.md5(open(archive, "rb").read()).hexdigest()


def test_download_verifies_checksum_and_unpacks(tmp_path):
    archive, md5 = _tar_cifar(tmp_path)
    target = download_cifar10(tmp_path / "cache", url=f"file://{archive}", md5=md5)
    assert load_raw(target).train_images.shape == (60, 3, 32, 32)


def test_download_with_wrong_checksum_fails_and_leaves_nothing(tmp_path):
    archive, _ = _tar_cifar(tmp_path)
    with pytest.raises(DataError, match="checksum mismatch"):
        download_cifar10(tmp_path / "cache", url=f"file://{archive}", md5="0" * 32)
    assert not list((tmp_path / "cache" / "downloads").glob("cifar-10-python*"))


def test_results_record_a_data_path_that_holds_on_any_machine():
    """A dataset beside the checkout is recorded relative to the repository, one elsewhere by
    its name only, so no committed result names one machine's folders."""
    repo = Path(nas.__file__).resolve().parents[1]
    beside = repo.parent / "shared" / "data" / "cifar10"
    assert portable_path(beside) == "../shared/data/cifar10"
    assert portable_path(repo / "data" / "mnist") == "data/mnist"
    assert DataConfig(path=str(beside)).to_dict()["path"] == "../shared/data/cifar10"
    if repo.parent != Path(repo.anchor):  # a checkout at the root has every path beside it
        assert portable_path(Path(repo.anchor) / "elsewhere-x" / "images") == "images"
