"""DM baseline: a distilled pixel set per IPC, stored as a proxy; resumable; clear errors."""

import pytest
import torch

from nas import api
from nas.cli import main
from nas.core.data import DataConfig
from proxies.dm import DMConfig, distill_dm, dm_loss
from storage import Database, list_datasets, list_proxy_records
from tests.datasets import write_image_folder

TWO = ("red", "green")  # 2 of the tiny dataset's classes


def test_dm_loss_is_squared_distance_of_mean_embeddings():
    real = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # mean [2, 0]
    syn = torch.tensor([[0.0, 1.0]])
    assert dm_loss(real, syn).item() == pytest.approx(4.0 + 1.0)


@pytest.mark.slow
def test_distill_dm_stores_a_balanced_proxy_moved_away_from_its_real_init(tmp_path):
    data = write_image_folder(tmp_path / "data", n_train=24, n_test=8)
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["distill", "--method", "dm", "--ipc", "2", "--iterations", "3",
                 "--batch-real", "8", "--width", "32", "--lr", "10", "--threads", "1",
                 "--data", str(data), "--classes", *TWO, "--db", url]) == 0
    db = Database(url)
    (dataset,) = list_datasets(db)
    (proxy,) = list_proxy_records(db, dataset.id)
    assert (proxy.method, proxy.ipc) == ("dm", 2)
    prepared = api.load_data(DataConfig(path=str(data), classes=TWO))
    # a search asking for "dm at IPC 2" reuses this set instead of distilling with defaults
    assert api.build_proxy(db, prepared, dataset, "dm", ipc=2) == proxy
    distilled = api.load_proxy_set(proxy)
    assert distilled.images.shape == (4, 3, 16, 16)
    assert torch.bincount(distilled.labels).tolist() == [2, 2]
    init = distill_dm(prepared, 2, DMConfig(iterations=1, lr=0.0), seed=0,
                      workdir=tmp_path / "zero-lr", progress=False)
    assert torch.equal(init.labels, distilled.labels)
    assert not torch.allclose(init.images, distilled.images)
    assert len(list_proxy_records(db, dataset.id)) == 1


@pytest.mark.slow
def test_dm_resumes_from_its_checkpoint(tmp_path):
    data = write_image_folder(tmp_path / "data", n_train=24, n_test=8)
    prepared = api.load_data(DataConfig(path=str(data), classes=TWO))
    cfg = dict(batch_real=4, width=32, checkpoint_every=1)
    whole = distill_dm(prepared, 1, DMConfig(iterations=3, **cfg), seed=1,
                       workdir=tmp_path / "a", progress=False)
    distill_dm(prepared, 1, DMConfig(iterations=2, **cfg), seed=1, workdir=tmp_path / "b",
               progress=False)  # "interrupted" after 2 iterations: checkpoint at 2
    resumed = distill_dm(prepared, 1, DMConfig(iterations=3, **cfg), seed=1,
                         workdir=tmp_path / "b", progress=False)
    assert torch.allclose(whole.images, resumed.images, atol=1e-6)


def test_dm_needs_an_ipc(tmp_path, capsys):
    data = write_image_folder(tmp_path / "data", n_train=4, n_test=2)
    assert main(["distill", "--method", "dm", "--data", str(data),
                 "--db", f"sqlite:///{tmp_path / 'nas.db'}"]) == 2
    assert "--ipc" in capsys.readouterr().err
    assert not (tmp_path / "nas.db").exists()
