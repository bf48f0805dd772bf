"""Distillation does what it is for: the matching loss of the distilled result, measured on
fixed held-out draws (pool networks, real batches, noise), is below the starting point's."""

import pytest
import torch

from proxies.d2m.checkpoint import load_generator, save_generator
from proxies.d2m.distill import D2MConfig, distill
from proxies.d2m.generator import Generator, GeneratorConfig
from proxies.d2m.images import unit_to_standardized
from proxies.d2m.losses import d2m_loss, embedding_matching_loss, prediction_matching_loss
from proxies.d2m.model_pool import ModelPool
from proxies.dm import DMConfig, distill_dm, dm_loss
from tests.datasets import two_class_data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return two_class_data(tmp_path_factory, "lowers", n_train=20)


def _pool(data):
    return ModelPool.for_data(data.channels, data.num_classes, data.im_size, width=32)


@torch.no_grad()
def _dm_eval(data, images, labels):
    pool, rng, total = _pool(data), torch.Generator().manual_seed(99), 0.0
    real = data.normalize(data.train_images)
    for _ in range(4):
        net = pool.draw(rng)
        total += sum(float(dm_loss(net(real[data.train_labels == c]).embedding,
                                   net(images[labels == c]).embedding))
                     for c in range(data.num_classes))
    return total


def test_dm_distillation_lowers_the_dm_loss_on_held_out_networks(data, tmp_path):
    cfg = dict(batch_real=8, width=32, augment="none")
    init = distill_dm(data, 2, DMConfig(iterations=1, lr=0.0, **cfg), seed=0,
                      workdir=tmp_path / "init", progress=False)
    done = distill_dm(data, 2, DMConfig(iterations=10, lr=0.5, **cfg), seed=0,
                      workdir=tmp_path / "done", progress=False)
    before, after = _dm_eval(data, init.images, init.labels), \
        _dm_eval(data, done.images, done.labels)
    # measured 14.6 -> 12.7; on networks it never saw, DM's loss levels off near 85%
    assert after < 0.92 * before, (before, after)


@torch.no_grad()
def _d2m_eval(data, path):
    g, pool = load_generator(path), _pool(data)
    rng, total = torch.Generator().manual_seed(99), 0.0
    for _ in range(4):
        idx = torch.randint(len(data.train_labels), (16,), generator=rng)
        labels, real = data.train_labels[idx], data.normalize(data.train_images[idx])
        syn = unit_to_standardized(g(torch.randn(16, g.config.z_dim, generator=rng), labels),
                                   data.mean, data.std)
        net = pool.draw(rng)
        fr, fs = net(real), net(syn)
        em = embedding_matching_loss(fr.maps, fs.maps, fr.embedding, fs.embedding, labels,
                                     labels)
        total += float(d2m_loss(em, prediction_matching_loss(fr.logits, fs.logits)))
    return total


def test_d2m_distillation_lowers_the_d2m_loss_on_held_out_draws(data, tmp_path):
    start = tmp_path / "g.pt"
    save_generator(Generator(GeneratorConfig(num_classes=2, im_size=16, width=4, z_dim=8,
                                             embed_dim=8)), start, {})
    result = distill(data, start, D2MConfig(iterations=10, batch_real=16, pool_width=32,
                                            optimizer="adam", lr=1e-3, augment="none"),
                     seed=0, workdir=tmp_path / "w", progress=False)
    before, after = _d2m_eval(data, start), _d2m_eval(data, result.generator_path)
    assert after < 0.8 * before, (before, after)
