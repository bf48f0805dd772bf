"""Imported sets: every layout read back as the tensors exported, value conventions converted
as their definitions say, and every mismatch with the dataset refused before storage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas import api
from nas.core.data import DataConfig, DataError
from nas.errors import UnknownNameError
from nas.proxy_files import export_set, import_set, stored_set
from proxies.imported import DC_CIFAR10, ImportConfig
from proxies.set_files import FORMATS, read_set
from storage import Database, list_proxy_records
from tests.datasets import write_dc_result, write_image_folder

IPC = 4


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A 3-class 16x16 RGB dataset, its database, and a stored random IPC-4 set."""
    root = tmp_path_factory.mktemp("imported")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NAS_CACHE", str(root / "cache"))
        data = api.load_data(DataConfig(path=str(write_image_folder(root / "data"))))
    db = Database(f"sqlite:///{root / 'nas.db'}")
    dataset = api.register_dataset(db, data)
    built = api.build_proxy(db, data, dataset, "random", ipc=IPC)
    return db, data, dataset, built


def standardized(data, unit: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1] -> the dataset's standardised space, written out independently."""
    mean = torch.tensor(data.mean).view(1, 3, 1, 1)
    std = torch.tensor(data.std).view(1, 3, 1, 1)
    return (unit - mean) / std


def rows(db) -> int:
    return len(list_proxy_records(db))


@pytest.mark.parametrize("fmt", FORMATS)
def test_importing_an_export_gives_back_the_stored_tensors(project, tmp_path, fmt):
    db, data, _, built = project
    target = tmp_path / {"dc-result": "set.pt", "tensor-pair": "images_best.pt",
                         "npz": "set.npz", "image-folder": "set"}[fmt]
    export_set(db, built.label, target)
    values = "standardized" if fmt == "tensor-pair" else None  # a pair records nothing
    imported = import_set(db, data, target, ImportConfig(f"back-{fmt}", values=values))
    back = api.load_proxy_set(imported.proxy)
    original = api.load_proxy_set(built)
    assert imported.fresh and imported.proxy.params["imported"]["format"] == fmt
    assert torch.equal(back.labels, original.labels)
    if fmt == "image-folder":  # 8-bit pixels: the set rounded to 1/255 in [0, 1]
        mean = torch.tensor(data.mean).view(1, 3, 1, 1)
        std = torch.tensor(data.std).view(1, 3, 1, 1)
        pixels = (original.images * std + mean).mul(255).round().clamp(0, 255)
        assert torch.allclose(back.images, standardized(data, pixels / 255), atol=1e-6)
    else:
        assert torch.equal(back.images, original.images)


@pytest.mark.parametrize("values", ["unit", "minus1to1", "cifar10-standardized", "uint8"])
def test_export_with_other_values_round_trips(project, tmp_path, values):
    db, data, _, built = project
    export_set(db, built.label, tmp_path / "set.npz", values=values)
    stored = np.load(tmp_path / "set.npz")["images"]
    original = api.load_proxy_set(built).images
    mean = torch.tensor(data.mean).view(1, 3, 1, 1)
    std = torch.tensor(data.std).view(1, 3, 1, 1)
    unit = original * std + mean
    expected = {"unit": unit, "minus1to1": unit * 2 - 1,
                "cifar10-standardized": (unit - torch.tensor(DC_CIFAR10[0]).view(1, 3, 1, 1))
                / torch.tensor(DC_CIFAR10[1]).view(1, 3, 1, 1),
                "uint8": (unit * 255).round().clamp(0, 255)}[values]
    assert np.allclose(stored, expected.numpy(), atol=1e-5)
    back = api.load_proxy_set(import_set(db, data, tmp_path / "set.npz",
                                         ImportConfig(f"other-{values}")).proxy)
    tolerance = 0.51 / 255 / min(data.std) if values == "uint8" else 1e-5
    assert torch.allclose(back.images, original, atol=tolerance)


def dc_standardized(data, n_per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Real training images of each class standardised with the CIFAR-10 constants."""
    g = torch.Generator().manual_seed(seed)
    picks = torch.cat([torch.nonzero(data.train_labels == c).flatten()[
        torch.randperm(int((data.train_labels == c).sum()), generator=g)[:n_per_class]]
        for c in range(data.num_classes)])
    unit = data.train_images[picks].float() / 255
    images = (unit - torch.tensor(DC_CIFAR10[0]).view(1, 3, 1, 1)) \
        / torch.tensor(DC_CIFAR10[1]).view(1, 3, 1, 1)
    return images, data.train_labels[picks]


def test_dataset_condensation_result_is_read_with_its_constants(project, tmp_path):
    db, data, dataset, _ = project
    first, second = dc_standardized(data, 3, seed=0), dc_standardized(data, 3, seed=1)
    write_dc_result(tmp_path / "res_DM_X_ConvNet_3ipc.pt", [first, second])
    imported = import_set(db, data, tmp_path / "res_DM_X_ConvNet_3ipc.pt",
                          ImportConfig("dc-second", values="cifar10-standardized", entry=1))
    back = api.load_proxy_set(imported.proxy)
    unit = second[0] * torch.tensor(DC_CIFAR10[1]).view(1, 3, 1, 1) \
        + torch.tensor(DC_CIFAR10[0]).view(1, 3, 1, 1)
    assert torch.allclose(back.images, standardized(data, unit), atol=1e-5)
    assert torch.equal(back.labels, second[1])
    assert imported.proxy.label == "dc-second-ipc3"
    assert any("holds 2 sets; imported entry 1" in n for n in imported.notices)
    # a search asks for it by name, whatever IPC it names
    assert api.build_proxy(db, data, dataset, "dc-second", ipc=50).id == imported.proxy.id


def test_the_same_import_again_returns_the_stored_row_and_another_file_is_refused(
        project, tmp_path):
    db, data, _, _ = project
    write_dc_result(tmp_path / "a.pt", [dc_standardized(data, 2, seed=0)])
    write_dc_result(tmp_path / "b.pt", [dc_standardized(data, 2, seed=1)])
    cfg = ImportConfig("twice", values="cifar10-standardized")
    first = import_set(db, data, tmp_path / "a.pt", cfg)
    again = import_set(db, data, tmp_path / "a.pt", cfg)
    assert first.fresh and not again.fresh and again.proxy.id == first.proxy.id
    count = rows(db)
    with pytest.raises(ValueError, match="'twice' already holds the set imported from"):
        import_set(db, data, tmp_path / "b.pt", cfg)
    assert rows(db) == count


def test_an_unknown_set_name_lists_the_imported_ones(project):
    db, data, dataset, _ = project
    with pytest.raises(UnknownNameError, match="'never-imported', nor a set imported"):
        api.build_proxy(db, data, dataset, "never-imported", ipc=10)


def refused(project, tmp_path, images, labels, match, **cfg) -> None:
    """Importing this pair (standardised values unless ``cfg`` says) raises ``match`` and
    stores nothing."""
    db, data, _, _ = project
    torch.save(images, tmp_path / "images_best.pt")
    torch.save(labels, tmp_path / "labels_best.pt")
    before = rows(db)
    with pytest.raises(ValueError, match=match):
        import_set(db, data, tmp_path, ImportConfig("refused", **{"values": "standardized",
                                                                   **cfg}))
    assert rows(db) == before


def test_a_wrong_class_count_is_refused(project, tmp_path):
    refused(project, tmp_path, torch.randn(10, 3, 16, 16), torch.arange(10) % 5,
            r"has 5 classes \(labels 0..4\), the dataset 3")


def test_a_missing_class_is_refused(project, tmp_path):
    refused(project, tmp_path, torch.randn(4, 3, 16, 16), torch.tensor([0, 0, 1, 1]),
            "has 2 classes")


def test_a_wrong_channel_count_is_refused(project, tmp_path):
    refused(project, tmp_path, torch.randn(6, 1, 16, 16), torch.arange(6) % 3,
            "has 1-channel images, the dataset 3-channel ones")


def test_another_resolution_is_refused_unless_rescaled(project, tmp_path):
    db, data, _, _ = project
    images, labels = torch.randn(6, 3, 32, 32), torch.arange(6) % 3
    refused(project, tmp_path, images, labels, "has 32x32 images, the dataset 16x16: pass "
            "--rescale")
    done = import_set(db, data, tmp_path, ImportConfig("rescaled", values="standardized",
                                                       rescale=True))
    back = api.load_proxy_set(done.proxy)
    expected = torch.nn.functional.interpolate(images, size=(16, 16), mode="bilinear",
                                               antialias=True, align_corners=False)
    assert torch.allclose(back.images, expected, atol=1e-6)
    assert done.proxy.params["imported"]["rescaled_from"] == 32
    assert any("resized 32x32 -> 16x16" in n for n in done.notices)


def test_soft_labels_are_refused_unless_argmax_is_asked_for(project, tmp_path):
    db, data, _, _ = project
    soft = torch.softmax(torch.randn(6, 3), 1)
    soft[torch.arange(6), torch.arange(6) % 3] += 1  # each row's largest: 0, 1, 2, 0, 1, 2
    refused(project, tmp_path, torch.randn(6, 3, 16, 16), soft, "has soft labels")
    done = import_set(db, data, tmp_path, ImportConfig("soft", values="standardized",
                                                       soft_labels="argmax"))
    assert torch.equal(api.load_proxy_set(done.proxy).labels, torch.arange(6) % 3)


def test_values_must_be_stated_for_a_float_pair(project, tmp_path):
    refused(project, tmp_path, torch.randn(6, 3, 16, 16), torch.arange(6) % 3,
            "say what .*pixel values are: --values", values=None)


def test_pixels_read_as_the_wrong_values_are_refused_naming_the_right_ones(project, tmp_path):
    unit = torch.rand(30, 3, 16, 16) * 0.6 + 0.2  # [0, 1] pixels claimed to be standardised
    refused(project, tmp_path, unit, torch.arange(30) % 3,
            r"read as standardized: channel 0 has mean .* std 0\.\d+ .*--values unit fits")
    refused(project, tmp_path, unit * 255, torch.arange(30) % 3,
            "values span .*, not unit pixels", values="unit")


def test_an_unreadable_file_and_an_unknown_layout_are_data_errors(project, tmp_path):
    db, data, _, _ = project
    (tmp_path / "broken.pt").write_bytes(b"not a torch file")
    (tmp_path / "notes.txt").write_text("hello")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "model.pt")
    for name, match in (("broken.pt", "cannot read .*broken.pt as a torch file"),
                        ("notes.txt", "unknown layout of .*notes.txt"),
                        ("model.pt", "without a dataset-condensation 'data' list"),
                        ("missing.npz", "missing.npz does not exist")):
        with pytest.raises(DataError, match=match):
            read_set(tmp_path / name)


def test_a_folder_of_class_images_maps_classes_by_name(project, tmp_path):
    db, data, _, _ = project
    folder = write_image_folder(tmp_path / "images", n_train=2, n_test=1) / "train"
    done = import_set(db, data, folder, ImportConfig("from-folder"))
    back = api.load_proxy_set(done.proxy)
    found = read_set(folder)
    order = torch.tensor([data.class_names.index(n) for n in found.class_names])
    assert torch.equal(back.labels, order[found.labels])
    assert torch.equal(back.images, data.normalize(found.images))


def test_channels_last_uint8_npz_is_read_as_the_dataset_reads_pixels(project, tmp_path):
    db, data, _, _ = project
    picks = torch.cat([torch.nonzero(data.train_labels == c).flatten()[:3] for c in range(3)])
    pixels, labels = data.train_images[picks], data.train_labels[picks]
    np.savez(tmp_path / "hwc.npz", images=pixels.permute(0, 2, 3, 1).numpy(),
             labels=labels.numpy())
    done = import_set(db, data, tmp_path / "hwc.npz", ImportConfig("hwc"))
    back = api.load_proxy_set(done.proxy)
    assert done.proxy.params["imported"]["values"] == "uint8"
    assert torch.equal(back.images, data.normalize(pixels))


def test_stored_set_names_any_set_and_refuses_ambiguity(project):
    db, _, _, built = project
    assert stored_set(db, built.label)[0].id == built.id
    assert stored_set(db, built.artifact_hash[:8])[0].id == built.id
    _, data, dataset, _ = project
    api.build_proxy(db, data, dataset, "random", ipc=IPC, seed=1)  # a second random-ipc4
    with pytest.raises(ValueError, match="2 stored sets answer to 'random-ipc4'"):
        stored_set(db, "random-ipc4")
    with pytest.raises(ValueError, match="no stored set 'nothing'"):
        stored_set(db, "nothing")
