"""nas.core.parallel: worker processes with the tuned allocator and one thread each."""

from __future__ import annotations

import pytest
import torch

from nas.core.parallel import worker_pool


def _threads(_: int) -> int:
    return torch.get_num_threads()


def test_worker_pool_gives_each_worker_its_share_of_threads():
    with worker_pool(2, threads_per_worker=1) as pool:
        assert pool.map(_threads, range(4)) == [1, 1, 1, 1]


def test_worker_pool_rejects_zero_workers():
    with pytest.raises(ValueError, match="workers"):
        worker_pool(0)


def test_pool_jobs_start_with_the_most_multiply_accumulates():
    from nas.api import longest_first
    from nas.core.trainer import TrainConfig

    config, shape = TrainConfig(), dict(in_channels=3, num_classes=10, im_size=16)
    cells = {"none": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
             "conv": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
                     "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"}
    jobs = [("convnet720", "d1-w32-relu-batch-avg", config, 0),
            ("nb201", cells["none"], config, 0),
            ("convnet720", "d3-w256-relu-batch-none", config, 0),
            ("nb201", cells["conv"], config, 1)]
    # d3-w256 without pooling: 3*256*9*256 + 2*256*256*9*256 MACs, about 3e8, against about
    # 6e7 for the all-3x3 cell, 2e6 for the all-none cell and 2e5 for d1-w32
    assert [job[1] for job in longest_first(jobs, shape)] == [
        "d3-w256-relu-batch-none", cells["conv"], cells["none"], "d1-w32-relu-batch-avg"]
