"""random-fly: d2m-fly's protocol on real images, a fresh class-balanced real subset every
epoch, the same for the same seed, every epoch trained."""

import pytest
import torch

from nas import api
from nas.core.trainer import TrainConfig
from nas.errors import InputError
from storage import list_proxy_records, list_runs
from tests.datasets import tiny_project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return tiny_project(tmp_path_factory.mktemp("random-fly"), val_fraction=0.25)


def _rows(images: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in images.flatten(1)}


def test_stream_draws_new_real_images_each_epoch_and_the_same_for_the_same_seed(project):
    db, data, dataset = project
    fly = api.build_proxy(db, data, dataset, "random-fly", ipc=2, seed=3)
    fixed = api.build_proxy(db, data, dataset, "random", ipc=2, seed=3)
    assert fly.label != fixed.label
    stream = api.Evaluator(db, data, dataset, fly).stream
    again = api.Evaluator(db, data, dataset, fly).stream
    stored = api.load_proxy_set(fixed).images
    assert torch.equal(stream(1)[0], stored)  # epoch 1 trains on random's set of that seed
    sets = {epoch: stream(epoch)[0].clone() for epoch in (2, 3, 4)}
    assert not torch.equal(sets[2], sets[3]) and not torch.equal(sets[3], sets[4])
    for epoch in (4, 2, 3):  # any order, a fresh stream: the same images
        assert torch.equal(again(epoch)[0], sets[epoch])
    real = _rows(data.normalize(data.train_images))
    for epoch, images in sets.items():  # every drawn image is a training image, 2 per class
        assert _rows(images) <= real
        assert torch.bincount(stream(epoch)[1]).tolist() == [2] * data.num_classes
    assert stream.epochs_within_latency(1e6, 7) == 7  # nothing generated: every epoch


def test_search_trains_every_epoch_on_fresh_sets_and_resumes_from_the_cache(project):
    db, data, dataset = project
    fly = api.build_proxy(db, data, dataset, "random-fly", ipc=2, seed=0,
                          options={"refresh_every": 2})
    archs = ["d1-w32-relu-none-avg", "d2-w32-relu-instance-max"]
    plan = api.EvaluationPlan("convnet720", archs, TrainConfig(epochs=5, amp=False,
                                                               compile=False), seed=0)
    runs = api.evaluate_architectures(db, data, dataset, fly, plan, progress=False, workers=2)
    assert [(r.status, r.epochs) for r in runs] == [("finished", 5)] * 2
    assert all(r.config["fresh_seconds"] > 0 for r in runs)
    before = {r.key: r.wall_seconds for r in list_runs(db)}
    api.evaluate_architectures(db, data, dataset, fly, plan, progress=False, workers=2)
    assert {r.key: r.wall_seconds for r in list_runs(db)} == before  # nothing retrained


def test_bad_refresh_is_refused_before_anything_is_stored(project):
    db, data, dataset = project
    before = len(list_proxy_records(db))
    with pytest.raises(InputError, match="refresh_every must be at least 1"):
        api.build_proxy(db, data, dataset, "random-fly", ipc=2, seed=0,
                        options={"refresh_every": 0})
    assert len(list_proxy_records(db)) == before
