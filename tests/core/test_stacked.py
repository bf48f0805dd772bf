"""nas.core.stacked: seeds trained together follow exactly the one-at-a-time runs."""

import pytest
import torch

from nas.core import stacked
from nas.core.stacked import train_stacked
from nas.core.trainer import TrainConfig, train
from search_spaces import build_convnet
from tests.datasets import class_tensors


def _task(n=14, size=8):
    return class_tensors(n, size)


# 42 images in batches of 16: two full batches and a short one; lr x0.1 after epoch 2; float32
# on every CPU, so that stacking alone is compared (bf16 rounds each form differently)
CFG = TrainConfig(epochs=4, batch_size=16, amp=False)


@pytest.mark.parametrize("arch", ["d2-w32-relu-batch-max", "d1-w32-leakyrelu-instance-avg"])
def test_stacked_seeds_end_with_the_weights_and_statistics_of_one_at_a_time_runs(
        arch, monkeypatch):
    x, y = _task()

    def make():
        return build_convnet(arch, num_classes=3, im_size=8)

    alone, built = [], []  # train builds one network per run; keep it to read its state
    for seed in (3, 5):
        result = train(lambda: built.append(make()) or built[-1], (x, y), CFG, seed=seed,
                       eval_sets={"val": (x, y)})
        alone.append((result, built[-1].state_dict()))
    together = []
    unstack = stacked.unstack
    monkeypatch.setattr(stacked, "unstack",
                        lambda *a: together.append(unstack(*a)) or together[-1])
    results = train_stacked(make, (x, y), CFG, seeds=[3, 5], eval_sets={"val": (x, y)})
    for (result, state), net, mine in zip(alone, together, results, strict=True):
        assert mine.status == "finished" and mine.epochs_done == 4
        assert mine.train_loss == pytest.approx(result.train_loss, rel=1e-4)
        assert mine.accuracies == result.accuracies
        for name, value in net.state_dict().items():  # weights and BN running statistics
            torch.testing.assert_close(value, state[name], rtol=1e-4, atol=1e-5, msg=name)
    first, second = (dict(n.state_dict()) for n in together)
    assert not torch.equal(first[next(iter(first))], second[next(iter(second))])


def test_a_diverging_stack_is_reported_per_seed_not_raised():
    x, y = _task()
    cfg = TrainConfig(epochs=20, batch_size=16, lr=1e6, augment="none")
    results = train_stacked(lambda: build_convnet("d4-w32-sigmoid-none-none", num_classes=3,
                                                  im_size=8), (x, y), cfg, seeds=[0, 1],
                            eval_sets={"val": (x, y)})
    assert [r.status for r in results] == ["diverged", "diverged"]
    assert all(r.accuracies == {} and r.epochs_done < 20 for r in results)


@pytest.mark.parametrize("seeds", [[], [1, 1]])
def test_seeds_must_be_distinct_and_present(seeds):
    x, y = _task()
    with pytest.raises(ValueError, match="seeds"):
        train_stacked(lambda: build_convnet("d1-w32-relu-none-avg", num_classes=3, im_size=8),
                      (x, y), CFG, seeds=seeds)
