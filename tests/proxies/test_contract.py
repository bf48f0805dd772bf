"""One contract for every registered proxy method: the requested IPC with balanced labels,
deterministic in its seed, different across seeds, and IPC 0 refused before any work."""

import pytest
import torch

from nas import api
from nas.distillers import distiller_of
from proxies import ProxyRequest, get_proxy, list_proxies
from proxies.d2m.distill import D2MConfig
from proxies.d2m.pretrain import PretrainConfig
from proxies.d3.distill import D3Config
from proxies.dm import DMConfig
from storage import list_proxy_records
from tests.datasets import tiny_project

SAMPLED = [m for m in list_proxies() if get_proxy(m).uses_ipc]
TINY_OPTIONS = {
    "dm": DMConfig(iterations=2, batch_real=8, width=32).to_dict(),
    "dsa": {"preset": "cpu", "iterations": 1, "batch_real": 8, "width": 32, "outer_loop": 1,
            "inner_loop": 1},
    "datadam": {"preset": "cpu", "iterations": 2, "batch_real": 8, "width": 32},
    "cafe": {"preset": "cpu", "iterations": 1, "batch_real": 8, "width": 32, "max_outer": 2,
             "max_inner": 1, "watch_real": 4},
}
TINY_DISTILL = {  # artifact kind -> the smallest config that exercises the distiller
    "gan-generator": PretrainConfig(iterations=2, batch_size=8, d_steps=1, checkpoint_every=2,
                                    ema_start=0, standing_batches=1),
    "d2m-generator": D2MConfig(iterations=2, batch_real=8, pool_width=32, checkpoint_every=2),
    "d3-priors": D3Config(iterations=2, latent_dim=4, decoder_width=4, real_per_class=4,
                          syn_per_class=2, pool=("w32-relu-instance-avg",), trajectory=False),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return tiny_project(tmp_path_factory.mktemp("contract"))


def _ensure_artifact(db, data, dataset, kind: str) -> None:
    distiller = distiller_of(kind)
    if distiller.refines:
        _ensure_artifact(db, data, dataset, distiller.refines)
    extra = {"width": 4} if kind == "gan-generator" else {}
    distiller.distil(db, data, dataset, TINY_DISTILL[kind], seed=0, progress=False, **extra)


def _build(project, method: str, ipc: int, seed: int):
    db, data, dataset = project
    kind = get_proxy(method).consumes
    if kind:
        _ensure_artifact(db, data, dataset, kind)
    proxy = api.build_proxy(db, data, dataset, method, ipc=ipc, seed=seed,
                            options=TINY_OPTIONS.get(method))
    return api.load_proxy_set(proxy)


@pytest.mark.parametrize("method", SAMPLED)
def test_proxy_builds_the_requested_ipc_with_balanced_labels(project, method):
    proxy_set = _build(project, method, ipc=2, seed=0)
    _, data, _ = project
    assert proxy_set.images.shape == (2 * data.num_classes, data.channels, data.im_size,
                                      data.im_size)
    assert proxy_set.images.dtype == torch.float32 and torch.isfinite(proxy_set.images).all()
    assert torch.bincount(proxy_set.labels).tolist() == [2] * data.num_classes


@pytest.mark.parametrize("method", SAMPLED)
def test_proxy_is_deterministic_in_its_seed(project, method):
    db, data, dataset = project  # built from the registry: stored sets would be reused by key
    options = dict(TINY_OPTIONS.get(method, {}))
    kind = get_proxy(method).consumes
    if kind:
        _ensure_artifact(db, data, dataset, kind)
        options["artifact"] = api.stored_artifact(db, dataset, kind).artifact_hash
    build = get_proxy(method).build
    a, b, c = (build(data, ipc=2, seed=s, options=options, artifacts_dir=db.home / "artifacts")
               for s in (3, 3, 4))
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


@pytest.mark.parametrize("method", SAMPLED)
def test_proxy_refuses_ipc_zero_before_any_work(method):
    with pytest.raises(ValueError, match="ipc must be at least 1, got 0"):
        ProxyRequest(method, ipc=0)


@pytest.mark.parametrize("method", [m for m in SAMPLED if not get_proxy(m).generates])
def test_build_proxy_refuses_more_ipc_than_real_images_and_records_nothing(project, method):
    """The Python API checks what the CLI checks: 12 training images per class here."""
    db, data, dataset = project
    before = len(list_proxy_records(db, dataset.id))
    with pytest.raises(ValueError, match="--ipc 13 is more than the 12 training images"):
        api.build_proxy(db, data, dataset, method, ipc=13, options=TINY_OPTIONS.get(method))
    assert len(list_proxy_records(db, dataset.id)) == before
