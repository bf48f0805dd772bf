"""D2M's evaluation protocol: candidates train on images the distilled generator draws afresh
each epoch, the same images for the same seed, within a fixed set's latency."""

import math

import pytest
import torch

from nas import api
from nas.core.trainer import TrainConfig, train
from nas.distillers import distiller_of
from proxies.d2m.distill import D2MConfig
from proxies.d2m.generate import GeneratorStream, generated_set
from proxies.d2m.generator import Generator, GeneratorConfig
from proxies.d2m.pretrain import PretrainConfig
from search_spaces import build_convnet, get_space
from storage import list_runs
from tests.datasets import tiny_project

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _generator(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(GeneratorConfig(num_classes=3, im_size=8, z_dim=4, width=2,
                                     embed_dim=4)).eval()


def _stream(seed: int, refresh_every: int = 1) -> GeneratorStream:
    return GeneratorStream(_generator(), 2, seed, refresh_every, mean=MEAN, std=STD)


def test_stream_draws_new_images_each_epoch_and_the_same_for_the_same_seed():
    first, again, other = _stream(0), _stream(0), _stream(1)
    sets = {epoch: first(epoch)[0].clone() for epoch in (2, 3, 4)}
    assert not torch.equal(sets[2], sets[3]) and not torch.equal(sets[3], sets[4])
    for epoch in (4, 2, 3):  # any order, a fresh stream: the same images
        assert torch.equal(again(epoch)[0], sets[epoch])
    assert not torch.equal(other(2)[0], sets[2])
    assert torch.bincount(first(2)[1]).tolist() == [2, 2, 2]


def test_stream_starts_from_the_fixed_sets_images_and_refreshes_on_its_cadence():
    stored = generated_set(_generator(), 2, 5, MEAN, STD).images
    stream = _stream(5, refresh_every=2)
    assert torch.equal(stream(2)[0], stored)  # epochs 1-2 train on the stored set
    assert not torch.equal(stream(3)[0], stored)
    assert torch.equal(stream(4)[0], stream(3)[0])


def test_epochs_within_latency_match_the_closed_form():
    stream = _stream(0)
    g = stream.generator_macs
    assert g > 0
    for candidate, epochs in ((g / 3, 200), (10 * g, 50), (g / 50, 7)):
        # every epoch after the first draws one fresh set: 3Ct + (t - 1)G <= 3CE
        expected = max(1, math.floor((3 * candidate * epochs + g) / (3 * candidate + g)))
        assert stream.epochs_within_latency(candidate, epochs) == expected
    assert stream.epochs_within_latency(g / 3, 200) == 100  # drawing costs as much as a step


def test_trainer_trains_each_epoch_on_the_fresh_set():
    stream = _stream(0)
    start = stream(1)
    drawn: list[int] = []
    seen: list[float] = []

    def fresh(epoch: int):
        drawn.append(epoch)
        return stream(epoch)

    def loss(model, x, y):  # one batch per epoch, no augmentation: x is the epoch's set
        seen.append(float(x.double().sum()))
        return torch.nn.functional.cross_entropy(model(x), y)

    make = lambda: build_convnet("d1-w32-relu-none-avg", in_channels=3, num_classes=3,  # noqa: E731
                                 im_size=8)
    result = train(make, start, TrainConfig(epochs=4, batch_size=64, augment="none",
                                            amp=False, compile=False),
                   seed=0, loss_fn=loss, fresh_set=fresh)
    assert drawn == [2, 3, 4] and result.epochs_done == 4
    expected = [float(stream(e)[0].double().sum()) for e in (1, 2, 3, 4)]
    assert seen == pytest.approx(expected, rel=1e-6)
    assert len(set(seen)) == 4 and result.fresh_seconds > 0


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    db, data, dataset = tiny_project(tmp_path_factory.mktemp("fly"), val_fraction=0.25)
    tiny = {"gan-generator": PretrainConfig(iterations=2, batch_size=8, checkpoint_every=2,
                                            ema_start=0, standing_batches=1),
            "d2m-generator": D2MConfig(iterations=2, batch_real=8, pool_width=32,
                                       checkpoint_every=2)}
    for kind, config in tiny.items():
        extra = {"width": 4} if kind == "gan-generator" else {}
        distiller_of(kind).distil(db, data, dataset, config, seed=0, progress=False, **extra)
    return db, data, dataset


@pytest.mark.parametrize("workers", [1, 2])
def test_search_on_the_fly_trains_the_latency_budget_and_resumes_from_the_cache(project,
                                                                               workers):
    db, data, dataset = project
    fixed = api.build_proxy(db, data, dataset, "d2m", ipc=2, seed=workers)
    fly = api.build_proxy(db, data, dataset, "d2m-fly", ipc=2, seed=workers)
    assert fly.label != fixed.label
    assert torch.equal(api.load_proxy_set(fly).images, api.load_proxy_set(fixed).images)
    archs = ["d1-w32-relu-none-avg", "d2-w32-relu-instance-max"]
    plan = api.EvaluationPlan("convnet720", archs, TrainConfig(epochs=6, amp=False,
                                                               compile=False), seed=0)
    runs = api.evaluate_architectures(db, data, dataset, fly, plan, progress=False,
                                      workers=workers)
    stream = api.Evaluator(db, data, dataset, fly).stream
    shape = dict(in_channels=3, num_classes=data.num_classes, im_size=data.im_size)
    for arch, run in zip(archs, runs, strict=True):
        budget = stream.epochs_within_latency(get_space("convnet720").macs(arch, **shape), 6)
        assert 1 <= budget < 6  # drawing took some of the fixed set's latency
        assert run.status == "finished" and run.epochs == budget
        assert run.config["fresh_seconds"] > 0
    before = {r.key: r.wall_seconds for r in list_runs(db)}
    again = api.evaluate_architectures(db, data, dataset, fly, plan, progress=False,
                                       workers=workers)
    assert [r.key for r in again] == [r.key for r in runs]
    assert {r.key: r.wall_seconds for r in list_runs(db)} == before  # nothing retrained
