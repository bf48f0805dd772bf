"""The trainer's learning-rate schedule matches a plain reference loop: SGD (momentum 0.9,
weight decay 5e-4), lr x0.1 after half the epochs with a fresh optimiser (momentum buffers
restarted, as the dataset-condensation evaluation loop re-creates its SGD optimiser)."""

import pytest
import torch
import torch.nn.functional as F

from nas.core.trainer import TrainConfig, build_seeded, train
from search_spaces import build_convnet


def _data():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat(8)
    return torch.randn(24, 3, 8, 8, generator=gen) + y.view(-1, 1, 1, 1), y


def _make():
    return build_convnet("d1-w32-relu-instance-avg", num_classes=3, im_size=8)


def _reference(x, y, epochs, lr, restart_momentum=True):
    net = build_seeded(_make, 5)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    for epoch in range(epochs):
        if epoch == epochs // 2:
            if restart_momentum:
                opt = torch.optim.SGD(net.parameters(), lr=lr * 0.1, momentum=0.9,
                                      weight_decay=5e-4)
            else:
                for group in opt.param_groups:
                    group["lr"] = lr * 0.1
        loss = F.cross_entropy(net(x), y)  # one full batch per epoch: order does not matter
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


@pytest.mark.parametrize("epochs", [6, 7])
def test_lr_decay_and_optimiser_restart_match_a_reference_loop(epochs):
    x, y = _data()
    built = []
    train(lambda: built.append(_make()) or built[-1], (x, y),
          TrainConfig(epochs=epochs, batch_size=64, lr=0.05, augment="none", compile=False,
                      amp=False),  # float32 like the reference loop, on every CPU
          seed=5)
    expected = _reference(x, y, epochs, lr=0.05)
    for got, want in zip(built[0].parameters(), expected.parameters(), strict=True):
        assert torch.allclose(got, want, atol=1e-5), float((got - want).abs().max())
    # the check can tell the schedules apart: keeping the momentum, or no decay, differs
    kept = _reference(x, y, epochs, lr=0.05, restart_momentum=False)
    assert any(not torch.allclose(a, b, atol=1e-4)
               for a, b in zip(kept.parameters(), expected.parameters(), strict=True))
