"""While distilling (DM, D2M, D3) the real and the synthetic batch of a matching step get the
same DSA transform: one family, one set of parameters for every image of both batches, and
the same draws again for the same seed."""

import pytest
import torch

from nas.core.augment import DSA
from proxies import get_proxy
from proxies.d2m.checkpoint import save_generator
from proxies.d2m.distill import D2MConfig, distill
from proxies.d2m.generator import Generator, GeneratorConfig
from proxies.d3.distill import D3Config, GroupJob, distill_group
from proxies.dm import DMConfig, distill_dm
from tests.datasets import two_class_data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return two_class_data(tmp_path_factory, "siamese", n_train=12)


@pytest.fixture
def applied(monkeypatch):
    """Every DSA.apply call as (family, per-image parameter rows, batch size)."""
    calls = []
    real_apply = DSA.apply

    def spy(self, x, params):
        if params is not None:
            rows = torch.cat([v.reshape(len(v), -1).float() for v in params.values], 1)
            calls.append((params.family, rows[:len(x)], len(x)))
        return real_apply(self, x, params)

    monkeypatch.setattr(DSA, "apply", spy)
    return calls


def _assert_pairs_share_one_transform(calls):
    assert calls and len(calls) % 2 == 0
    for (fam_r, rows_r, _), (fam_s, rows_s, _) in zip(calls[::2], calls[1::2], strict=True):
        assert fam_r == fam_s
        both = torch.cat([rows_r, rows_s])
        assert torch.equal(both, both[:1].expand_as(both))  # one parameter set for all images


def _dm(data, tmp_path, seed):
    distill_dm(data, 1, DMConfig(iterations=2, batch_real=4, width=32), seed=seed,
               workdir=tmp_path / f"dm{seed}-{len(list(tmp_path.iterdir()))}", progress=False)


def test_dm_real_and_synthetic_batches_share_dsa_parameters(data, tmp_path, applied):
    _dm(data, tmp_path, seed=0)
    first = list(applied)
    _assert_pairs_share_one_transform(first)
    applied.clear()
    _dm(data, tmp_path, seed=0)
    assert [(f, r.tolist()) for f, r, _ in applied] == [(f, r.tolist()) for f, r, _ in first]


def test_d2m_real_and_synthetic_batches_share_dsa_parameters(data, tmp_path, applied):
    path = tmp_path / "g.pt"
    g = Generator(GeneratorConfig(num_classes=2, im_size=16, width=4, z_dim=8, embed_dim=8))
    save_generator(g, path, {})
    for _ in range(2):  # uses the real batch first, then the generated one
        distill(data, path, D2MConfig(iterations=3, batch_real=4, pool_width=32,
                                      pool=("convnet",)), seed=0,
                workdir=tmp_path / f"w{len(applied)}", progress=False)
    _assert_pairs_share_one_transform(applied)
    assert [(f, r.tolist()) for f, r, _ in applied[:6]] == \
        [(f, r.tolist()) for f, r, _ in applied[6:]]


def test_d3_real_and_synthetic_batches_share_dsa_parameters(data, tmp_path, applied):
    images = data.normalize(data.train_images)
    cfg = D3Config(iterations=3, latent_dim=4, decoder_width=8, real_per_class=4,
                   syn_per_class=2, pool=("w32-relu-instance-avg",), trajectory=False)
    distill_group(GroupJob((0, 1), images, data.train_labels, cfg, seed=0,
                           out=tmp_path / "g.pt", progress=False))
    _assert_pairs_share_one_transform(applied)


@pytest.mark.parametrize(("method", "options"), [
    ("datadam", {"iterations": 2, "batch_real": 4, "width": 32}),
    ("dsa", {"iterations": 2, "batch_real": 4, "width": 32, "outer_loop": 1}),  # no inner loop
])
def test_pixel_proxies_share_dsa_parameters_between_real_and_synthetic(data, tmp_path, applied,
                                                                       method, options):
    get_proxy(method).build(data, ipc=1, seed=0, options=options, artifacts_dir=tmp_path)
    _assert_pairs_share_one_transform(applied)
