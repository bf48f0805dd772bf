"""ELF's rear term: the candidate's rear section (blocks after the first, and the classifier)
learns to predict the labels from the feature network's first-block features."""

import pytest
import torch.nn.functional as F

import nas.api
from nas.core.data import DataConfig
from nas.core.elf import ElfConfig, ElfLoss, feature_network
from nas.core.trainer import build_seeded
from search_spaces import build_convnet

FAST = dict(feature_arch="d2-w32-relu-instance-avg", feature_epochs=1)


@pytest.fixture
def setup(image_folder, tmp_path):
    data = nas.api.load_data(DataConfig(path=str(image_folder)))
    fnet = feature_network(data, ElfConfig(**FAST), tmp_path / "artifacts")
    net = build_seeded(lambda: build_convnet("d2-w32-relu-batch-none", num_classes=3,
                                             im_size=16), seed=0)
    x, y = data.normalize(data.train_images[:8]), data.train_labels[:8]
    return fnet, net, x, y


def test_elf_rear_term_predicts_labels_from_the_feature_networks_features(setup):
    fnet, net, x, y = setup  # candidate without pooling: 16x16 maps; feature net's are 8x8
    loss = ElfLoss(fnet, (32, 32), ElfConfig(front=0.3, rear=2.0, **FAST), im_size=16, seed=0)
    shallow = fnet.features[:4](x)  # a d2 block with pooling: conv, norm, act, pool
    h_first = net.features[:3](x)  # the candidate's blocks have no pooling layer
    fed = F.adaptive_avg_pool2d(loss.adapters["rear"](shallow), h_first.shape[-2:])
    rear = F.cross_entropy(net.classifier(net.features[3:](fed).flatten(1)), y)
    front = F.mse_loss(loss.adapters["front"](h_first), shallow)
    expected = F.cross_entropy(net(x), y) + 0.3 * front + 2.0 * rear
    assert loss(net, x, y).item() == pytest.approx(expected.item(), rel=1e-5)


def test_elf_rear_gradient_trains_the_rear_section_not_the_first_block(setup):
    fnet, net, x, y = setup
    loss = ElfLoss(fnet, (32, 32), ElfConfig(**FAST), im_size=16, seed=0)
    loss.terms(net, x, y)["rear"].backward()
    assert net.features[0].weight.grad is None  # the first block is not on the rear's path
    assert net.features[3].weight.grad.abs().sum() > 0
    assert net.classifier.weight.grad.abs().sum() > 0
    assert loss.adapters["rear"].weight.grad.abs().sum() > 0


def test_elf_feature_regression_variant_and_unknown_targets(setup):
    fnet, net, x, y = setup
    loss = ElfLoss(fnet, (32, 32), ElfConfig(front=0.0, rear=1.0, rear_target="features", **FAST),
                   im_size=16, seed=0)
    mse = F.mse_loss(loss.adapters["rear"](net.features(x)), fnet.features(x))
    assert loss(net, x, y).item() == pytest.approx((F.cross_entropy(net(x), y) + mse).item(),
                                                   rel=1e-5)
    with pytest.raises(ValueError, match="rear target"):
        ElfConfig(rear_target="logits")
