import math
from functools import partial

import pytest
import torch

from nas import api
from nas.analysis import zero_cost
from nas.analysis.zero_cost import ZeroCostConfig
from nas.core.data import DataConfig
from nas.core.trainer import build_seeded
from search_spaces import build_convnet, get_space
from storage import list_scores


def _batches(n=2, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(32, 3, size, size, generator=g), torch.randint(0, 3, (32,), generator=g))
            for _ in range(n)]


def _net(arch, seed=0):
    return build_seeded(partial(build_convnet, arch, num_classes=3, im_size=16), seed)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synflow_of_a_wider_otherwise_equal_net_is_larger(seed):
    narrow = zero_cost.synflow(_net("d2-w32-relu-none-avg", seed), _batches())
    wide = zero_cost.synflow(_net("d2-w64-relu-none-avg", seed), _batches())
    assert 0 < narrow < wide


def test_synflow_ignores_the_data():
    net = partial(_net, "d1-w32-relu-batch-max")
    assert zero_cost.synflow(net(), _batches(seed=0)) == zero_cost.synflow(net(), _batches(seed=5))


def test_naswot_is_larger_for_more_distinct_activation_codes():
    distinct = torch.tensor([[1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1],
                             [1, 0, 1, 0, 1, 0, 1, 0]])
    similar = torch.tensor([[1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0, 0, 1],
                            [1, 1, 1, 1, 0, 0, 1, 1]])
    assert zero_cost.naswot_from_codes(distinct) > zero_cost.naswot_from_codes(similar)
    assert zero_cost.naswot_from_codes(similar[[0, 0, 1]]) == -math.inf  # repeated code


def test_naswot_of_a_real_net_is_finite_and_uses_every_activation_layer():
    net = _net("d3-w32-leakyrelu-instance-avg")
    x = _batches()[0][0]
    codes = zero_cost.activation_codes(net, x)
    assert codes.shape == (32, 32 * (16 * 16 + 8 * 8 + 4 * 4))
    assert math.isfinite(zero_cost.naswot(net, _batches()))


def test_grad_norm_is_positive_and_finite():
    value = zero_cost.grad_norm(_net("d2-w32-sigmoid-batch-max"), _batches())
    assert 0 < value < math.inf


def test_score_architecture_counts_params_and_flops_analytically(tiny_data):
    data = api.load_data(DataConfig(str(tiny_data)))
    space = get_space("convnet720")
    spec = space.parse("d2-w64-relu-batch-avg")
    value, _ = zero_cost.score_architecture("convnet720", spec.id, "params", data, [], 0)
    built = build_convnet(spec, num_classes=data.num_classes, im_size=data.im_size)
    assert value == sum(p.numel() for p in built.parameters())
    with pytest.raises(ValueError, match="unknown zero-cost method 'snip'"):
        zero_cost.score_architecture("convnet720", spec.id, "snip", data, [], 0)


def test_scores_are_stored_once_and_reused(tiny_data, db):
    data = api.load_data(DataConfig(str(tiny_data)))
    dataset = api.register_dataset(db, data)
    archs = ["d1-w32-relu-none-max", "d2-w32-relu-batch-avg"]
    config = ZeroCostConfig(batches=1, batch_size=16)
    first = zero_cost.score_architectures(db, data, dataset, "convnet720", archs, config=config,
                                          progress=False)
    assert len(first) == len(archs) * len(zero_cost.ZERO_COST_METHODS)
    again = zero_cost.score_architectures(db, data, dataset, "convnet720", archs, config=config,
                                          progress=False)
    assert again == first  # same records, timings included: nothing was recomputed
    assert len(list_scores(db, dataset_id=dataset.id)) == len(first)
    assert all(s.value is not None and s.wall_seconds >= 0 for s in first)
    assert zero_cost.score_architectures(db, data, dataset, "convnet720", archs, [],
                                         config=config, progress=False) == []  # none asked
