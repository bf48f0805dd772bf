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
