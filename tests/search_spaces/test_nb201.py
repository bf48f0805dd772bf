"""The NAS-Bench-201 cell space: published sizes, benchmark index order, networks, ELF."""

import copy
import csv
from pathlib import Path

import pytest
import torch
from torch import nn

from nas.core.elf import ElfConfig, ElfLoss
from nas.core.selection import select_architectures
from nas.core.trainer import build_seeded
from search_spaces import InvalidArchitectureError, Nb201Spec, build_nb201, get_space, nb201

SPACE = get_space("nb201")
SHARED_TABLE = (Path(__file__).resolve().parents[2].parent
                / "shared/data/nas-bench-201/nb201_accuracies.csv")
RESNET_LIKE = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
ALL_NONE = Nb201Spec(*["none"] * 6)
ALL_CONV3 = Nb201Spec(*["nor_conv_3x3"] * 6)


def _macs_by_hooks(net: nn.Module, im_size: int) -> int:
    """Independent count: conv and linear multiply-accumulates seen in a forward pass."""
    total = 0

    def conv(m, _inp, out):
        nonlocal total
        total += out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups

    def linear(m, _inp, out):
        nonlocal total
        total += out.numel() * m.in_features

    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(conv)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(linear)
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, im_size, im_size))
    return total


def test_space_enumerates_15625_distinct_cells_that_round_trip_through_their_ids():
    specs = SPACE.enumerate()
    assert len(specs) == 15625 and len({s.id for s in specs}) == 15625
    assert all(SPACE.parse(s.id) == s for s in specs[::97])
    assert all(len(s.id) <= 128 for s in specs)  # fits the runs table's arch_id column


def test_index_ids_and_enumeration_order_are_the_benchmark_indices():
    specs = SPACE.enumerate()
    for i in (0, 1, 6111, 11472, 15624):
        assert SPACE.parse(f"nb201-{i}") == specs[i]
        assert specs[i].index == i
    assert specs[11472].id == RESNET_LIKE


@pytest.mark.skipif(not SHARED_TABLE.is_file(), reason="shared NAS-Bench-201 table not found")
def test_every_index_maps_to_the_same_cell_string_as_the_shared_table():
    specs = SPACE.enumerate()
    with open(SHARED_TABLE, newline="") as f:
        for row in csv.DictReader(f):
            assert specs[int(row["arch_index"])].id == row["arch_str"]


@pytest.mark.parametrize("bad", ["nb201-15625", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                 "d3-w128-relu-instance-avg", ""])
def test_invalid_ids_raise_with_the_expected_formats(bad):
    with pytest.raises(InvalidArchitectureError):
        SPACE.parse(bad)


def test_sizes_span_the_published_range():
    """Dong & Yang 2020: 0.073-1.531 M parameters and 7.8-220.1 M "FLOPs" (MACs) at 32x32."""
    specs = SPACE.enumerate()
    params = [SPACE.count_params(s) for s in specs]
    macs = [SPACE.count_macs(s) for s in specs]
    assert 0.073e6 <= min(params) < 0.074e6 and 1.531e6 <= max(params) < 1.532e6  # truncated
    assert round(min(macs) / 1e6, 1) == 7.8 and round(max(macs) / 1e6, 1) == 220.1
    assert SPACE.count_params(ALL_NONE) == min(params)
    assert SPACE.count_macs(ALL_CONV3) == max(macs)


@pytest.mark.parametrize("arch", [ALL_NONE.id, ALL_CONV3.id, RESNET_LIKE, "nb201-6111"])
@pytest.mark.parametrize("im_size", [32, 16, 9])
def test_analytic_counts_equal_the_built_network(arch, im_size):
    spec = SPACE.parse(arch)
    net = build_nb201(spec, num_classes=10, im_size=im_size)
    assert sum(p.numel() for p in net.parameters()) == SPACE.count_params(spec, im_size=im_size)
    assert _macs_by_hooks(net, im_size) == SPACE.count_macs(spec, im_size=im_size)


@pytest.mark.parametrize("im_size", [16, 32])
def test_forward_pass_gives_logits_and_gradients(im_size):
    net = build_nb201(RESNET_LIKE, num_classes=3, im_size=im_size)
    out = net(torch.randn(4, 3, im_size, im_size))
    assert out.shape == (4, 3)
    out.sum().backward()
    assert net.first[0].weight.grad is not None


def test_all_none_cell_passes_no_signal_through_the_cells():
    net = build_nb201(ALL_NONE, im_size=16).eval()
    a, b = net.first(torch.randn(2, 3, 16, 16)), net.first(torch.randn(2, 3, 16, 16))
    assert torch.equal(a, b) and not a.any()


@pytest.mark.parametrize("shape", [(3, 4, 7, 9), (2, 3, 1, 1), (2, 16, 16, 16)])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_avg_pool_op_matches_the_benchmarks_pooling_layer_forward_and_backward(shape, layout):
    x = torch.randn(shape, dtype=torch.float64).contiguous(memory_format=layout)
    x.requires_grad_()
    weights = torch.randn(shape, dtype=torch.float64)
    ours = (nb201.AvgPool3x3()(x) * weights).sum()
    (ours_grad,) = torch.autograd.grad(ours, x)
    published = (nn.AvgPool2d(3, 1, 1, count_include_pad=False)(x) * weights).sum()
    (published_grad,) = torch.autograd.grad(published, x)
    assert torch.allclose(ours, published) and torch.allclose(ours_grad, published_grad)


def test_too_small_images_are_refused():
    with pytest.raises(InvalidArchitectureError, match="at least 4x4"):
        SPACE.check_input_size(ALL_CONV3, 3)


def test_edges_are_the_factors_for_filters_and_stratified_samples():
    ids = select_architectures(SPACE, sample=25, where=["edge_2_3=nor_conv_3x3"], seed=0)
    specs = [SPACE.parse(a) for a in ids]
    assert len(set(ids)) == 25 and all(s.edge_2_3 == "nor_conv_3x3" for s in specs)
    assert {s.edge_0_1 for s in specs} == set(nb201.OPS)  # every level of a free edge appears
    assert list(ALL_CONV3.params()) == list(nb201.EDGES)


def test_elf_splits_nb201_into_stem_plus_stage_one_and_the_rest():
    from search_spaces import build_convnet

    feature_net = build_seeded(lambda: build_convnet("d2-w32-relu-instance-avg", num_classes=3,
                                                     im_size=16), 0).eval()
    net = build_nb201(RESNET_LIKE, num_classes=3, im_size=16)
    loss = ElfLoss(feature_net, SPACE.parse(RESNET_LIKE).block_widths(), ElfConfig(), im_size=16,
                   seed=0)
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 0])
    terms = loss.terms(net, x, y)
    assert set(terms) == {"ce", "front", "rear"} and all(v.item() > 0 for v in terms.values())
    assert terms["ce"].item() == pytest.approx(
        nn.functional.cross_entropy(net(x), y).item(), rel=1e-5)


def _every_edge(cell: nb201.Cell, x: torch.Tensor) -> torch.Tensor:
    """The benchmark's cell: every edge computed, node j = sum over i < j of op(node i)."""
    e = cell.edges
    n1 = e[0](x)
    n2 = e[1](x) + e[2](n1)
    return e[3](x) + e[4](n1) + e[5](n2)


# (cell, edges that cannot change its output): node 2 dead (2->3 is none), node 1 dead too
# (1->3 none, 1->2 feeds dead node 2), node 1 all zeros yet read (0->1 none, 1->3 a conv),
# node 1 read only through node 2
_DEAD_EDGES = [
    (RESNET_LIKE, set()),
    ("|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|none~2|",
     {1, 2}),
    ("|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|none~1|none~2|",
     {0, 1, 2}),
    ("|none~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|", set()),
    ("|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|avg_pool_3x3~2|", set()),
    (ALL_NONE.id, set()),
]


@pytest.mark.parametrize("arch,dead", _DEAD_EDGES)
def test_training_skips_only_edges_that_cannot_change_the_output(arch, dead):
    torch.manual_seed(0)
    cell = nb201.Cell(Nb201Spec.parse(arch), 8)
    full = copy.deepcopy(cell)
    x, weights = torch.randn(4, 8, 6, 6), torch.randn(4, 8, 6, 6)
    x, x_full = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = cell(x)
    (out * weights).sum().backward()
    expected = _every_edge(full, x_full)
    (expected * weights).sum().backward()
    assert torch.equal(out, expected) and torch.equal(x.grad, x_full.grad)
    for i, (edge, reference) in enumerate(zip(cell.edges, full.edges, strict=True)):
        for p, q in zip(edge.parameters(), reference.parameters(), strict=True):
            if i in dead:
                assert p.grad is None and not q.grad.any()
            else:
                assert torch.equal(p.grad, q.grad)


def test_without_autograd_every_edge_runs_so_hooks_see_every_activation():
    arch, dead = _DEAD_EDGES[2]
    net = build_nb201(arch, im_size=8).train()
    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    seen = []
    for m in relus:
        m.register_forward_hook(lambda m, _inp, _out: seen.append(m))
    with torch.no_grad():
        net(torch.randn(2, 3, 8, 8))
    assert len(seen) == len(relus) and set(map(id, seen)) == set(map(id, relus))
    seen.clear()
    net(torch.randn(2, 3, 8, 8))  # under autograd the dead edges' ReLUs do not run
    assert len(seen) < len(relus)
