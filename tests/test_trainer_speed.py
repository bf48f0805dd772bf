"""nas.trainer speed options: torch.compile and the CPU evaluation batch keep results."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from nas.bench.speed import synthetic_task
from nas.trainer import CPU_EVAL_BATCH, TrainConfig, evaluate, train
from search_spaces import build_convnet


@pytest.fixture(scope="module")
def tiny_task():
    return synthetic_task(8, 10, 2, 8, torch.Generator().manual_seed(0), noise=2.0)


@pytest.mark.slow
def test_compiled_training_follows_the_eager_run(tiny_task):
    (x, y), test = tiny_task
    make = partial(build_convnet, "d1-w32-relu-instance-avg", num_classes=2, im_size=8)
    config = TrainConfig(epochs=2, batch_size=8, augment="none")
    eager = train(make, (x, y), config, seed=0, eval_sets={"test": test})
    compiled = train(make, (x, y), TrainConfig(epochs=2, batch_size=8, augment="none",
                                               compile=True), seed=0, eval_sets={"test": test})
    assert compiled.train_loss == pytest.approx(eager.train_loss, rel=1e-4)
    assert compiled.accuracies == eager.accuracies


def test_scoring_in_cpu_sized_chunks_gives_the_one_batch_accuracy(tiny_task):
    net = build_convnet("d1-w32-relu-batch-avg", num_classes=2, im_size=8)
    x = torch.randn(CPU_EVAL_BATCH + 37, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 2, (len(x),), generator=torch.Generator().manual_seed(2))
    assert evaluate(net, x, y, batch_size=CPU_EVAL_BATCH) == evaluate(net, x, y,
                                                                       batch_size=len(x))
