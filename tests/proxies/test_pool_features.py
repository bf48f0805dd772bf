"""Pool networks of the matching losses see real and synthetic images through the same
per-image function: an image's features do not depend on what else is in its batch."""

import pytest
import torch
from torch import nn

import proxies.d3.distill as d3_distill
from proxies.d2m.model_pool import ModelPool
from proxies.d3.distill import D3Config, GroupJob, distill_group, pool_features
from search_spaces import build_convnet


def _images(n, size=16, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_d3_step_gives_an_image_the_same_features_in_the_real_and_synthetic_batch(
        tmp_path, monkeypatch):
    x0, x1, other = _images(3)
    images = torch.stack([x0] * 6 + [x1] * 6)  # every real image of class c is x_c
    labels = torch.tensor([0] * 6 + [1] * 6)

    class FixedDecoder(nn.Module):  # synthetic batch: x0, x0 (class 0), other, other (class 1)
        def __init__(self, *args):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(()))

        def forward(self, z):
            return torch.stack([x0, x0, other, other]) + self.w * z.sum()

    calls = []

    def spy_mmd2(a, b, bandwidths):
        calls.append((a.detach(), b.detach()))
        return (a.mean(0) - b.mean(0)).pow(2).sum()

    monkeypatch.setattr(d3_distill, "Decoder", FixedDecoder)
    monkeypatch.setattr(d3_distill, "mmd2", spy_mmd2)
    cfg = D3Config(iterations=1, latent_dim=4, real_per_class=4, syn_per_class=2,
                   pool=("w32-relu-batch-max",), augment="none", trajectory=False)
    distill_group(GroupJob((0, 1), images, labels, cfg, seed=0, out=tmp_path / "g.pt",
                           progress=False))
    f_real, f_syn = calls[0]  # class 0: x0 in both batches
    assert torch.allclose(f_syn[0], f_real[0], atol=1e-5), \
        f"x0's features differ by {(f_syn[0] - f_real[0]).abs().max():.3g} between batches"


@pytest.mark.parametrize("arch", ["d2-w32-relu-batch-max", "d2-w32-relu-instance-avg"])
def test_pool_features_are_per_image_functions(arch):
    net = build_convnet(arch, num_classes=3, im_size=16)
    real, syn_a, syn_b = _images(8, seed=1), _images(4, seed=2), _images(4, seed=3)
    syn_b[0] = syn_a[0]
    f_real, f_a = pool_features(net, real, syn_a.requires_grad_())
    _, f_b = pool_features(net, real, syn_b)
    assert torch.allclose(f_a[0], f_b[0], atol=1e-5)  # not moved by the other synthetic images
    _, f_same = pool_features(net, real, real[:3])
    assert torch.allclose(f_same, f_real[:3], atol=1e-5)  # same image, same features
    assert f_a.grad_fn is not None and f_real.grad_fn is None  # gradients reach syn only


@pytest.mark.parametrize("size", [16, 32])
def test_d2m_and_dm_pool_features_of_an_image_ignore_the_rest_of_the_batch(size):
    pool = ModelPool.for_data(3, 3, size, width=32)
    gen = torch.Generator().manual_seed(0)
    x, a, b = _images(1, size, 4), _images(5, size, 5), _images(5, size, 6)
    for _ in range(4):  # ConvNet and, at 32x32, ResNet-18
        net = pool.draw(gen)
        with torch.no_grad():
            fa, fb = net(torch.cat([x, a])), net(torch.cat([x, b]))
        for ta, tb in zip([*fa.maps, fa.embedding, fa.logits],
                          [*fb.maps, fb.embedding, fb.logits], strict=True):
            assert torch.allclose(ta[0], tb[0], atol=1e-5)
