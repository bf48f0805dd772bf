"""DSA (gradient matching), DataDAM (attention matching) and CAFE (feature alignment)
pixel-space proxies: registered,
their losses go down with a descent step and up with a flipped one, and a tiny distillation
returns a class-balanced float32 set that moved from its real initialisation."""

import math

import pytest
import torch
import torch.nn.functional as F

from proxies import get_proxy, list_proxies
from proxies.cafe import CAFEConfig, cafe_features, cafe_loss
from proxies.datadam import DataDAMConfig, datadam_loss, relu_maps
from proxies.dsa import DSAMatchConfig, gradient_distance
from search_spaces import build_convnet
from tests.datasets import two_class_data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return two_class_data(tmp_path_factory, "pixel", n_train=12)


def _net(seed=0):
    torch.manual_seed(seed)
    return build_convnet("d3-w32-relu-instance-avg", num_classes=2, im_size=16)


def _images(n, seed):
    return torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def _datadam(net, real, syn):
    with torch.no_grad():
        f_real = relu_maps(net, real)
    return datadam_loss(f_real, relu_maps(net, syn))


def _dsa(net, real, syn):
    weights = list(net.parameters())
    y_real, y_syn = torch.zeros(len(real), dtype=torch.long), torch.zeros(len(syn),
                                                                          dtype=torch.long)
    g_real = torch.autograd.grad(F.cross_entropy(net(real), y_real), weights)
    g_syn = torch.autograd.grad(F.cross_entropy(net(syn), y_syn), weights, create_graph=True)
    return gradient_distance([g.detach() for g in g_real], g_syn)


def _cafe(net, real, syn):  # two classes, each batch class-ordered
    with torch.no_grad():
        f_real = cafe_features(net, real)
    return cafe_loss(f_real, cafe_features(net, syn), 2)


@pytest.mark.parametrize(("loss_fn", "lr"), [(_datadam, 0.05), (_dsa, 0.05), (_cafe, 0.05)],
                         ids=["datadam", "dsa", "cafe"])
def test_one_step_lowers_the_loss_and_a_flipped_step_raises_it(loss_fn, lr):
    net = _net()
    real, syn0 = _images(16, 1) + 0.5, _images(4, 2)
    syn = syn0.clone().requires_grad_()
    before = loss_fn(net, real, syn)
    (grad,) = torch.autograd.grad(before, syn)
    down = loss_fn(net, real, (syn0 - lr * grad).requires_grad_()).detach()
    up = loss_fn(net, real, (syn0 + lr * grad).requires_grad_()).detach()
    assert down.item() < before.item() < up.item()


def test_relu_maps_are_the_activations_of_all_but_the_last_block_before_pooling():
    net = _net()
    x = _images(2, 3)
    maps, embed = relu_maps(net, x)
    assert [tuple(m.shape) for m in maps] == [(2, 32, 16, 16), (2, 32, 8, 8)]
    assert torch.allclose(embed, net.embed(x))


def test_cafe_features_are_the_embedding_then_every_block_activation_deepest_first():
    net = _net()
    x = _images(2, 3)
    embed, *maps = cafe_features(net, x)
    assert [tuple(m.shape) for m in maps] == [(2, 32, 4, 4), (2, 32, 8, 8), (2, 32, 16, 16)]
    assert torch.allclose(embed, net.embed(x))


def test_cafe_loss_matches_the_formula_computed_by_hand():
    g = torch.Generator().manual_seed(0)
    real = [torch.randn(4, 3, generator=g), torch.randn(4, 2, 2, generator=g)]
    syn = [torch.randn(2, 3, generator=g), torch.randn(2, 2, 2, generator=g)]
    weights, beta = (0.7, 0.2), 0.3
    expected = 0.0
    for c in range(2):  # real rows 2c, 2c+1 and synthetic row c belong to class c
        for w, fr, fs in zip(weights, real, syn, strict=True):
            expected += w * float(((fr[2 * c] + fr[2 * c + 1]) / 2 - fs[c]).pow(2).sum())
        expected += float(((real[0][2 * c] + real[0][2 * c + 1]) / 2 - syn[0][c]).pow(2).sum())
    for i in range(4):  # discrimination: the synthetic rows are the class centres
        logits = [float(real[0][i] @ syn[0][c]) for c in range(2)]
        expected += beta * (math.log(sum(math.exp(v) for v in logits)) - logits[i // 2])
    got = cafe_loss(real, syn, 2, layer_weights=weights, inner_weight=beta)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_cafe_image_lr_halves_at_the_reference_milestones():
    config = CAFEConfig()
    assert [config.lr_at(i) for i in (0, 1199, 1200, 1600, 1800, 1999)] == \
        pytest.approx([0.1, 0.1, 0.05, 0.025, 0.0125, 0.0125])


def test_gradient_distance_is_zero_for_parallel_gradients_and_skips_1d_parameters():
    g = [torch.randn(4, 3, 3, 3), torch.randn(4), torch.randn(2, 8)]
    scaled = [2.0 * t for t in g]
    assert float(gradient_distance(g, scaled)) == pytest.approx(0.0, abs=1e-5)
    flipped = [g[0], -g[1], -g[2]]  # 2 output units of the linear layer point backwards
    assert float(gradient_distance(g, flipped)) == pytest.approx(2 * 2.0, rel=1e-5)


def test_reference_loops_per_ipc():
    assert DSAMatchConfig().loops(1) == (1, 1)
    assert DSAMatchConfig().loops(10) == (10, 50)
    assert DSAMatchConfig().loops(50) == (50, 10)
    assert DSAMatchConfig().loops(5) == (1, 1)
    assert DSAMatchConfig(outer_loop=3, inner_loop=2).loops(10) == (3, 2)


@pytest.mark.parametrize(("method", "options"), [
    ("datadam", {"preset": "cpu", "iterations": 3, "batch_real": 8, "width": 32}),
    ("dsa", {"preset": "cpu", "iterations": 2, "batch_real": 8, "width": 32,
             "outer_loop": 2, "inner_loop": 1}),
    ("cafe", {"preset": "cpu", "iterations": 2, "batch_real": 8, "width": 32,
              "max_outer": 2, "max_inner": 2, "watch_real": 4}),
])
def test_tiny_distillation_gives_a_balanced_set_that_moved(data, tmp_path, method, options):
    assert method in list_proxies()
    build = get_proxy(method).build
    a = build(data, ipc=2, seed=0, options=options, artifacts_dir=tmp_path / "a")
    b = build(data, ipc=2, seed=0, options=options, artifacts_dir=tmp_path / "b")
    init = build(data, ipc=2, seed=0, options={**options, "lr": 0.0},
                 artifacts_dir=tmp_path / "c")
    assert a.images.dtype == torch.float32 and a.images.shape == (4, 3, 16, 16)
    assert a.labels.dtype == torch.int64 and torch.bincount(a.labels).tolist() == [2, 2]
    assert torch.equal(a.images, b.images)  # same seed, same set
    assert torch.equal(a.labels, init.labels) and not torch.allclose(a.images, init.images)


def test_paper_defaults_and_unknown_presets(data, tmp_path):
    assert (DataDAMConfig().iterations, DataDAMConfig().batch_real,
            DataDAMConfig().task_balance) == (20_000, 64, 0.01)
    assert (DSAMatchConfig().iterations, DSAMatchConfig().lr, DSAMatchConfig().batch_real) == \
        (1000, 0.1, 256)
    cafe = CAFEConfig()
    assert (cafe.iterations, cafe.lr, cafe.batch_real, cafe.inner_weight, cafe.lambda_outer,
            cafe.lambda_inner, cafe.layer_weights) == (2000, 0.1, 256, 0.01, 0.04, 0.03,
                                                       (1.0, 1.0, 0.1, 0.1))
    with pytest.raises(ValueError, match="unknown preset"):
        get_proxy("dsa").build(data, ipc=1, seed=0, options={"preset": "gpu"},
                               artifacts_dir=tmp_path)
