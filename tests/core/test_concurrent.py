"""nas.core.concurrent: candidates trained side by side give what one-by-one training gives."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from nas.bench.speed import synthetic_task
from nas.core.concurrent import TrainJob, train_concurrently
from nas.core.trainer import TrainConfig, train
from search_spaces import build_convnet


@pytest.fixture(scope="module")
def tiny_task():
    generator = torch.Generator().manual_seed(0)
    return synthetic_task(12, 10, 3, 8, generator)


def _jobs() -> list[TrainJob]:
    config = TrainConfig(epochs=3, batch_size=12, augment="crop_flip")
    return [TrainJob(partial(build_convnet, arch, num_classes=3, im_size=8), config, seed)
            for arch, seed in (("d1-w32-relu-instance-avg", 0), ("d2-w32-relu-batch-max", 1),
                               ("d1-w32-relu-none-none", 2), ("d1-w32-relu-instance-avg", 3))]


def test_concurrent_training_equals_one_after_another(tiny_task):
    train_set, test_set = tiny_task
    jobs = _jobs()
    together = train_concurrently(jobs, train_set, eval_sets={"test": test_set}, streams=3)
    alone = [train(j.make_net, train_set, j.config, seed=j.seed, eval_sets={"test": test_set})
             for j in jobs]
    assert [r.train_loss for r in together] == [r.train_loss for r in alone]
    assert [r.accuracies for r in together] == [r.accuracies for r in alone]
    assert len({r.train_loss for r in together}) == len(jobs)  # the jobs really differ


def test_concurrent_training_rejects_zero_streams(tiny_task):
    with pytest.raises(ValueError, match="streams"):
        train_concurrently(_jobs(), tiny_task[0], streams=0)
