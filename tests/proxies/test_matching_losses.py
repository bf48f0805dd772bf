"""Every matching loss (D2M, DM, D3) goes down after one descent step on the synthetic images
of a fixed batch, and up after a step with the gradient's sign flipped; D2M's lambda keeps
its meaning whatever the number of classes."""

import pytest
import torch

from proxies.d2m.losses import d2m_loss, embedding_matching_loss, prediction_matching_loss
from proxies.d2m.model_pool import ModelPool
from proxies.d3.mmd import mmd2
from proxies.dm import dm_loss
from search_spaces import build_convnet

K, SIZE = 3, 16


def _batch(n_per_class, seed):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(K).repeat_interleave(n_per_class)
    return torch.randn(len(labels), 3, SIZE, SIZE, generator=gen) + labels.view(-1, 1, 1, 1), \
        labels


def _d2m(net, real, syn, labels):
    fr, fs = net(real), net(syn)
    em = embedding_matching_loss(fr.maps, fs.maps, fr.embedding, fs.embedding, labels, labels)
    return d2m_loss(em, prediction_matching_loss(fr.logits, fs.logits))


def _dm(net, real, syn, labels):
    return sum(dm_loss(net(real[labels == c]).embedding, net(syn[labels == c]).embedding)
               for c in range(K))


def _d3(net, real, syn, labels):
    scale = net.embed_dim ** 0.5
    return sum(mmd2(net.embed(real[labels == c]) / scale, net.embed(syn[labels == c]) / scale)
               for c in range(K))


def _pool_net():
    return ModelPool.for_data(3, K, SIZE, width=32).draw(torch.Generator().manual_seed(0))


LOSSES = {
    "d2m": (_d2m, _pool_net, 1e-2),
    "dm": (_dm, _pool_net, 1e-2),
    "d3": (_d3, lambda: build_convnet("d2-w32-relu-instance-avg", num_classes=K, im_size=SIZE),
           1.0),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_one_step_lowers_the_matching_loss_and_a_flipped_step_raises_it(name):
    loss_fn, make_net, lr = LOSSES[name]
    torch.manual_seed(0)
    net = make_net().requires_grad_(False)
    real, labels = _batch(8, seed=1)
    syn0, _ = _batch(8, seed=2)
    syn = syn0.clone().requires_grad_()
    before = loss_fn(net, real, syn, labels)
    (grad,) = torch.autograd.grad(before, syn)
    with torch.no_grad():
        down = loss_fn(net, real, syn0 - lr * grad, labels)
        up = loss_fn(net, real, syn0 + lr * grad, labels)
    assert grad.abs().sum() > 0
    assert down < before < up, (float(down), float(before), float(up))


def test_d2m_loss_terms_do_not_grow_with_the_number_of_classes():
    """Six classes with the same per-class statistics as three give the same L_EM and L_PM,
    so lambda weighs the two terms alike on CIFAR-10 and on a 2-class subset."""
    gen = torch.Generator().manual_seed(3)
    n, labels = 4, torch.arange(3).repeat_interleave(4)
    maps = [torch.randn(3 * n, 8, 4, 4, generator=gen) for _ in range(2)]
    syn_maps = [torch.randn(3 * n, 8, 4, 4, generator=gen) for _ in range(2)]
    emb, syn_emb = torch.randn(3 * n, 16, generator=gen), torch.randn(3 * n, 16, generator=gen)
    logits, syn_logits = torch.randn(3 * n, 6, generator=gen), torch.randn(3 * n, 6, generator=gen)

    def twice(x):
        return torch.cat([x, x])

    em3 = embedding_matching_loss(maps, syn_maps, emb, syn_emb, labels, labels)
    six = torch.cat([labels, labels + 3])
    em6 = embedding_matching_loss([twice(m) for m in maps], [twice(m) for m in syn_maps],
                                  twice(emb), twice(syn_emb), six, six)
    assert em6.item() == pytest.approx(em3.item(), rel=1e-5)
    pm3 = prediction_matching_loss(logits, syn_logits)
    pm6 = prediction_matching_loss(twice(logits), twice(syn_logits))
    assert pm6.item() == pytest.approx(pm3.item(), rel=1e-5)
