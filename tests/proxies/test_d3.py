"""D3: priors, decoder, trajectory matching, subtask processes and the recorded artifact, on a
tiny real image folder (3 classes, 16x16) with a real SQLite database."""

import dataclasses
import os
import re
from pathlib import Path

import pytest
import torch

from nas import api
from nas.core.augment import DSA, DSAConfig
from nas.core.data import DataConfig
from nas.distillers.d3 import distill_d3
from proxies import get_proxy
from proxies.base import file_hash
from proxies.d3 import artifact as d3_artifact
from proxies.d3.decoder import Decoder
from proxies.d3.distill import D3Config, GroupJob, distill_group, make_modules
from proxies.d3.prior import ClassPriors
from proxies.d3.subtasks import split_classes
from proxies.d3.trajectory import expert_trajectory, trajectory_loss
from search_spaces import build_convnet
from storage import Database, list_proxy_records
from tests.datasets import write_image_folder

TINY = D3Config(iterations=3, latent_dim=8, decoder_width=8, real_per_class=8, syn_per_class=4,
                pool=("w32-relu-instance-avg", "w32-relu-batch-max"),
                expert_arch="w32-relu-instance-avg", expert_epochs=2, span=1, syn_steps=2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Prepared tiny data, a SQLite database and one distilled artifact shared by the module."""
    root = tmp_path_factory.mktemp("d3")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NAS_CACHE", str(root / "cache"))
        data = api.load_data(DataConfig(path=str(write_image_folder(root / "folder"))))
    db = Database(f"sqlite:///{root / 'nas.db'}")
    dataset = api.register_dataset(db, data)
    record = distill_d3(db, data, dataset, TINY, seed=0, progress=False)
    return data, db, dataset, record


def test_one_artifact_gives_ipc_1_10_50_with_right_shapes_and_balanced_labels(tiny):
    data, db, dataset, record = tiny
    proxies = [api.build_proxy(db, data, dataset, "d3", ipc=ipc, artifact=record.artifact_hash)
               for ipc in (1, 10, 50)]
    for proxy, ipc in zip(proxies, (1, 10, 50), strict=True):
        proxy_set = api.load_proxy_set(proxy)
        assert proxy_set.images.shape == (3 * ipc, 3, 16, 16)
        assert proxy_set.images.dtype == torch.float32 and torch.isfinite(proxy_set.images).all()
        assert proxy_set.labels.tolist() == [c for c in range(3) for _ in range(ipc)]
        assert proxy.params["artifact"] == record.artifact_hash
        assert proxy.params["stored_params"] == record.params["stored_params"] > 0
    artifact_rows = [p for p in list_proxy_records(db) if p.method == "d3-priors"]
    assert len(artifact_rows) == 1  # one distillation, three IPCs
    path = Path(record.artifact_path)
    assert path.parent == db.home / "artifacts" / "d3" and path.stem == file_hash(path)


def test_distilling_again_with_the_same_config_returns_the_recorded_artifact(tiny):
    data, db, dataset, record = tiny
    again = distill_d3(db, data, dataset, TINY, seed=0, progress=False)
    assert (again.id, again.artifact_hash) == (record.id, record.artifact_hash)


def test_sampling_is_deterministic_per_seed(tiny):
    artifact = d3_artifact.load(Path(tiny[3].artifact_path))
    a, b = d3_artifact.sample(artifact, 10, seed=3), d3_artifact.sample(artifact, 10, seed=3)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, d3_artifact.sample(artifact, 10, seed=4).images)


def test_stored_size_counts_priors_and_decoder_parameters(tiny):
    data, _, _, record = tiny
    priors, decoder = make_modules(TINY, data.num_classes, 3, 16, seed=0)
    expected = sum(p.numel() for m in (priors, decoder) for p in m.parameters())
    assert record.params["stored_params"] == expected
    assert record.params["stored_bytes"] == 4 * expected


@pytest.mark.slow  # spawns two worker processes, each importing torch
def test_subtasks_run_in_worker_processes_and_aggregate_to_all_classes(tiny):
    data, db, dataset, _ = tiny
    config = dataclasses.replace(TINY, subtasks=2, trajectory=False)
    record = distill_d3(db, data, dataset, config, seed=0, progress=False)
    pids = record.params["worker_pids"]
    assert len(pids) == 2 and os.getpid() not in pids
    assert record.params["parent_pid"] == os.getpid()
    artifact = d3_artifact.load(Path(record.artifact_path))
    assert [g["classes"] for g in artifact["groups"]] == [[0, 1], [2]]
    assert d3_artifact.sample(artifact, 4, seed=0).labels.bincount().tolist() == [4, 4, 4]


def test_d3_proxy_samples_the_latest_artifact_and_refuses_to_build_without_one(tiny, tmp_path):
    data, db, dataset, _ = tiny
    latest = [p for p in list_proxy_records(db) if p.method == "d3-priors"][-1]
    proxy = api.build_proxy(db, data, dataset, "d3", ipc=3)  # artifact filled in
    assert proxy.params["artifact"] == latest.artifact_hash
    with pytest.raises(ValueError, match="needs a distilled artifact"):
        get_proxy("d3").build(data, ipc=3, seed=0, options={}, artifacts_dir=tmp_path)


def test_more_subtasks_than_classes_is_rejected():
    with pytest.raises(ValueError, match="--subtasks must be between 1 and"):
        split_classes(3, 4)
    assert split_classes(10, 3) == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]


@pytest.mark.parametrize(("change", "message"), [
    ({"span": 3, "expert_epochs": 2}, "--span (3) must be between 1 and --expert-epochs (2)"),
    ({"iterations": 0}, "--iterations must be at least 1"),
    ({"pool": ()}, "--pool needs at least one architecture"),
])
def test_bad_d3_config_is_rejected_with_the_flag_to_fix(change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        dataclasses.replace(TINY, **change)


def test_priors_cycle_components_and_are_differentiable():
    priors = ClassPriors(2, components=3, latent_dim=4, rank=2,
                         generator=torch.Generator().manual_seed(0))
    z, labels = priors.sample(5, torch.Generator().manual_seed(1))
    assert z.shape == (10, 4) and labels.tolist() == [0] * 5 + [1] * 5
    z.sum().backward()
    assert priors.mean.grad[:, :, 0].tolist() == [[2, 2, 1], [2, 2, 1]]  # components 0,1,2,0,1
    assert priors.factor.grad is not None


@pytest.mark.parametrize(("channels", "size"), [(3, 16), (1, 28), (3, 32)])
def test_decoder_outputs_images_of_the_dataset_shape(channels, size):
    assert Decoder(8, channels, size, width=8)(torch.randn(5, 8)).shape == (5, channels,
                                                                            size, size)


def test_trajectory_loss_is_one_without_student_steps_and_differentiable_in_images():
    gen = torch.Generator().manual_seed(0)
    images, labels = torch.randn(12, 3, 8, 8, generator=gen), torch.arange(2).repeat(6)
    make = lambda: build_convnet("d1-w32-relu-instance-avg", num_classes=2, im_size=8)  # noqa: E731
    dsa = DSA(DSAConfig("none"))
    trajectory = expert_trajectory(make, images, labels, epochs=2, lr=0.01, batch_size=4,
                                   seed=0, dsa=dsa)
    assert trajectory.shape[0] == 3
    syn = images[:4].clone().requires_grad_(True)
    kwargs = dict(start=0, span=2, lr=0.01, batch_size=4, generator=gen, dsa=dsa)
    assert trajectory_loss(make(), trajectory, syn, labels[:4], steps=0, **kwargs).item() == \
        pytest.approx(1.0)
    trajectory_loss(make(), trajectory, syn, labels[:4], steps=2, **kwargs).backward()
    assert syn.grad is not None and syn.grad.abs().sum() > 0


def test_a_finished_group_is_read_back_instead_of_distilled_again(tmp_path):
    images, labels = torch.randn(8, 3, 16, 16), torch.arange(2).repeat(4)
    config = dataclasses.replace(TINY, iterations=1, trajectory=False)
    job = GroupJob((0, 1), images, labels, config, seed=0, out=tmp_path / "g.pt", progress=False)
    first = distill_group(job)
    again = distill_group(dataclasses.replace(job, images=torch.zeros_like(images)))
    assert again["seconds"] == first["seconds"]
    assert all(torch.equal(first["decoder"][k], again["decoder"][k]) for k in first["decoder"])
