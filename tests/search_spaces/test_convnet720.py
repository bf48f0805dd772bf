import pytest
import torch
from torch import nn

from nas.errors import UnknownNameError
from search_spaces import InvalidArchitectureError, get_space, list_spaces
from search_spaces.convnet720 import ConvNetSpec, build_convnet, count_macs, count_params

SPACE = get_space("convnet720")


def test_space_has_720_distinct_points_that_round_trip_through_their_ids():
    specs = SPACE.enumerate()
    assert len(specs) == 720
    assert len({s.id for s in specs}) == 720
    assert all(ConvNetSpec.parse(s.id) == s for s in specs)


def test_default_spec_is_the_literature_network():
    assert ConvNetSpec().id == "d3-w128-relu-instance-avg"


@pytest.mark.parametrize("bad", ["d5-w128-relu-instance-avg", "d3-w100-relu-instance-avg",
                                 "d3-w128-tanh-instance-avg", "resnet18", ""])
def test_invalid_ids_raise_with_a_helpful_message(bad):
    with pytest.raises(InvalidArchitectureError) as info:
        ConvNetSpec.parse(bad)
    assert "d3-w128-relu-instance-avg" in str(info.value) or "choose one of" in str(info.value)


def test_unknown_space_lists_the_available_ones():
    with pytest.raises(UnknownNameError, match="convnet720"):
        get_space("nope")
    assert list_spaces() == ["convnet720", "nb201"]
    assert list_spaces("conv*") == ["convnet720"]


def test_layers_follow_the_reference_definition():
    net = build_convnet("d2-w32-leakyrelu-layer-max", in_channels=1, num_classes=7, im_size=16)
    kinds = [type(m) for m in net.features]
    assert kinds == [nn.Conv2d, nn.LayerNorm, nn.LeakyReLU, nn.MaxPool2d] * 2
    assert net.features[1].normalized_shape == (32, 16, 16)  # size before pooling
    assert net.features[5].normalized_shape == (32, 8, 8)
    assert net.classifier.in_features == 32 * 4 * 4 and net.classifier.out_features == 7
    inst = build_convnet("d1-w64-relu-instance-none").features[1]
    group = build_convnet("d1-w64-relu-group-none").features[1]
    assert (inst.num_groups, group.num_groups) == (64, 4)


def test_all_720_build_and_train_one_step_on_a_tiny_batch():
    x = torch.randn(2, 3, 16, 16)
    y = torch.tensor([0, 1])
    for spec in SPACE.enumerate():
        net = build_convnet(spec, im_size=16)
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        assert torch.isfinite(loss), spec.id
        grads = [p.grad for p in net.parameters()]
        assert all(g is not None for g in grads), spec.id
        assert sum(p.numel() for p in net.parameters()) == count_params(spec, im_size=16), spec.id


def test_flops_grow_with_width_and_shrink_with_pooling():
    wide, narrow = ConvNetSpec(width=256), ConvNetSpec(width=32)
    assert count_macs(wide) > count_macs(narrow)
    assert count_macs(ConvNetSpec(pooling="none")) > count_macs(ConvNetSpec(pooling="avg"))
    # d1-w32 at 32x32, no pooling: conv 32*3*9*32*32 + head 32*32*32*10
    assert count_macs(ConvNetSpec(1, 32, "relu", "none", "none")) == 884736 + 327680


def test_too_small_input_for_the_pooling_depth_is_refused_clearly():
    with pytest.raises(InvalidArchitectureError, match="at least 16x16"):
        build_convnet("d4-w32-relu-none-max", im_size=8)
    build_convnet("d4-w32-relu-none-none", im_size=8)  # no pooling: any size works
