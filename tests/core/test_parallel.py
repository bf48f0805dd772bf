"""nas.core.parallel: worker processes on a CPU or sharing a device, and the evaluator's use
of them (each architecture trained and recorded once)."""

from __future__ import annotations

import pytest
import torch

from nas.core.parallel import Placement, worker_pool


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


def test_placement_fills_the_cores_on_a_cpu_and_shares_the_gpu_on_cuda():
    from nas.core.parallel import GPU_WORKERS, cpu_cores, placement

    cpu, cuda = torch.device("cpu"), torch.device("cuda")  # no GPU needed to place
    assert placement(cpu) == Placement(cpu, cpu_cores(), 1)
    assert placement(cpu, 3) == Placement(cpu, 3, 1)
    assert placement(cuda) == Placement(cuda, GPU_WORKERS, max(1, cpu_cores() // GPU_WORKERS))
    assert placement(cuda, 1).threads == cpu_cores()  # one process gets every core
    with pytest.raises(ValueError, match="--workers must be at least 1, got 0"):
        placement(cuda, 0)


def _shared_devices(_: int) -> list[str]:
    from nas.core.parallel import shared_data

    data = shared_data()
    return [data["images"][0].device.type, data["images"][1].device.type,
            data["eval"]["test"].device.type, data["name"]]


def test_worker_pool_keeps_the_shared_tensors_on_the_pool_device():
    shared = {"images": (torch.zeros(2), torch.ones(2)), "eval": {"test": torch.zeros(1)},
              "name": "kept"}
    with worker_pool(1, threads_per_worker=1, shared=shared,
                     device=torch.device("meta")) as pool:
        assert pool.map(_shared_devices, [0]) == [["meta", "meta", "meta", "kept"]]


ARCHS = ["d1-w32-relu-none-avg", "d1-w32-relu-batch-max", "d1-w32-sigmoid-none-avg"]


@pytest.fixture
def evaluator(tmp_path):
    from nas import api
    from nas.core.data import DataConfig
    from storage import Database
    from tests.datasets import write_image_folder

    data = api.load_data(DataConfig(path=str(write_image_folder(tmp_path / "images")),
                                    resize=8))
    db = Database(f"sqlite:///{tmp_path / 'nas.db'}")
    return api.Evaluator(db, data, api.register_dataset(db, data), None,
                         device=torch.device("cpu"))


def _plan():
    from nas import api
    from nas.core.trainer import TrainConfig

    return api.EvaluationPlan("convnet720", ARCHS, TrainConfig(epochs=1, batch_size=8))


def test_workers_on_a_device_train_each_architecture_once_and_a_rerun_trains_none(
        evaluator, monkeypatch):
    """The path CUDA takes (worker processes on the placement's device, here the CPU)."""
    from nas import api
    from storage import list_runs

    plan, recorded = _plan(), []
    trained = evaluator.train_in_workers(plan, ARCHS, Placement(torch.device("cpu"), 2, 1),
                                         on_run=lambda run: recorded.append(run.arch_id))
    assert trained == set(ARCHS) and sorted(recorded) == sorted(ARCHS)  # once each
    runs = list_runs(evaluator.db)
    assert sorted(r.arch_id for r in runs) == sorted(ARCHS)
    assert all(r.status == "finished" and r.device.startswith("cpu") for r in runs)

    def no_training(*args, **kwargs):
        raise AssertionError("a stored run was trained again")

    monkeypatch.setattr(api, "train", no_training)  # this process: the rerun finds them
    again = api.evaluate_architectures(evaluator.db, evaluator.data, evaluator.dataset, None,
                                       plan, progress=False, workers=2,
                                       device=torch.device("cpu"))
    assert [(r.arch_id, r.key) for r in again] == [(r.arch_id, r.key) for r in sorted(
        runs, key=lambda r: ARCHS.index(r.arch_id))]


def test_runs_that_fail_in_workers_are_reported_and_left_to_the_caller(evaluator):
    """A worker whose device cannot train (tensors without data: "meta") records nothing;
    every failure names its architecture, and evaluate then trains it in this process."""
    from nas import api
    from storage import list_runs

    plan, errors = _plan(), []
    trained = evaluator.train_in_workers(plan, ARCHS, Placement(torch.device("meta"), 2, 1),
                                         on_error=errors.append)
    assert trained == set() and list_runs(evaluator.db) == []
    assert sorted(next(a for a in ARCHS if a in str(e)) for e in errors) == sorted(ARCHS)
    assert all("on meta failed to train" in str(e) for e in errors)
    runs = [evaluator.evaluate(plan.space, a, plan.train, plan.seed) for a in ARCHS]
    assert [r.status for r in runs] == ["finished"] * 3
    assert evaluator.train_in_workers(plan, [], Placement(torch.device("cpu"), 2, 1)) == set()
    stored = api.evaluate_architectures(evaluator.db, evaluator.data, evaluator.dataset, None,
                                        plan, progress=False)
    assert [(r.key, r.val_acc) for r in stored] == [(r.key, r.val_acc) for r in runs]
