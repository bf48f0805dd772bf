"""ELF: feature-network supervision of the candidate's first and last blocks, trained adapters,
and runs that record it (tiny real image folder, real SQLite)."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

import nas.api
import nas.core.elf
from nas.analysis.report import ReportConfig, build_report
from nas.core.data import DataConfig
from nas.core.elf import ElfConfig, ElfLoss, feature_network
from nas.core.trainer import TrainConfig, build_seeded, train
from search_spaces import build_convnet
from storage import Database, list_runs

FAST = ElfConfig(feature_arch="d2-w32-relu-instance-avg", feature_epochs=1)


@pytest.fixture
def tiny(image_folder, tmp_path):
    data = nas.api.load_data(DataConfig(path=str(image_folder)))
    db = Database(f"sqlite:///{tmp_path / 'nas.db'}")
    return data, db, nas.api.register_dataset(db, data)


def _batch(data, n=8):
    return data.normalize(data.train_images[:n]), data.train_labels[:n]


def _candidate(data):
    return build_seeded(lambda: build_convnet("d2-w32-relu-batch-max", num_classes=3,
                                              im_size=16), seed=0)


def test_elf_with_zero_weights_is_plain_cross_entropy(tiny):
    data, db, _ = tiny
    fnet = feature_network(data, FAST, db.home / "artifacts")
    net, (x, y) = _candidate(data), _batch(data)
    loss = ElfLoss(fnet, (32, 32), ElfConfig(front=0, rear=0), im_size=16, seed=0)
    assert loss(net, x, y).item() == pytest.approx(F.cross_entropy(net(x), y).item(), rel=1e-6)


def test_elf_adds_front_and_rear_feature_terms_with_their_weights(tiny):
    data, db, _ = tiny
    fnet = feature_network(data, FAST, db.home / "artifacts")
    net, (x, y) = _candidate(data), _batch(data)
    loss = ElfLoss(fnet, (32, 32), ElfConfig(front=0.3, rear=2.0, rear_target="features"),
                   im_size=16, seed=0)
    # independent computation: a d2 block is conv, norm, act, pool (4 layers)
    front = F.mse_loss(loss.adapters["front"](net.features[:4](x)), fnet.features[:4](x))
    rear = F.mse_loss(loss.adapters["rear"](net.features(x)), fnet.features(x))
    assert front.item() > 0 and rear.item() > 0
    expected = F.cross_entropy(net(x), y) + 0.3 * front + 2.0 * rear
    assert loss(net, x, y).item() == pytest.approx(expected.item(), rel=1e-5)


def test_feature_network_is_trained_once_and_shared_by_runs_with_other_weights(tiny, monkeypatch):
    data, db, _ = tiny
    calls = []
    real_train = nas.core.elf.train
    monkeypatch.setattr(nas.core.elf, "train",
                        lambda *a, **k: calls.append(1) or real_train(*a, **k))
    first = feature_network(data, FAST, db.home / "artifacts")
    second = feature_network(data, dataclasses.replace(FAST, front=5.0), db.home / "artifacts")
    assert len(calls) == 1 and len(list((db.home / "artifacts" / "elf").glob("*.pt"))) == 1
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(),
                                                 second.state_dict().values(), strict=True))
    assert not any(p.requires_grad for p in second.parameters())


def test_train_optimises_the_extra_modules_with_the_network(tiny):
    data, db, _ = tiny
    fnet = feature_network(data, FAST, db.home / "artifacts")
    loss = ElfLoss(fnet, (32, 32), FAST, im_size=16, seed=0)
    before = [p.detach().clone() for p in loss.adapters.parameters()]
    result = train(lambda: build_convnet("d2-w32-relu-batch-max", num_classes=3, im_size=16),
                   _batch(data, 30), TrainConfig(epochs=2, batch_size=16), seed=0,
                   loss_fn=loss, extra_modules=[loss.adapters])
    assert result.status == "finished"
    assert any(not torch.equal(a, b) for a, b in zip(before, loss.adapters.parameters(),
                                                     strict=True))


def test_elf_runs_are_recorded_and_distinct_from_plain_runs(tiny):
    data, db, dataset = tiny
    proxy = nas.api.build_proxy(db, data, dataset, "random", ipc=5)
    cfg = TrainConfig(epochs=1)
    arch = "d1-w32-relu-instance-avg"
    plain = nas.api.Evaluator(db, data, dataset, proxy).evaluate("convnet720", arch, cfg, 0)
    elf = nas.api.Evaluator(db, data, dataset, proxy, FAST).evaluate("convnet720", arch, cfg, 0)
    assert plain.key == nas.api.run_key(dataset, proxy, "convnet720", arch, 0, cfg)
    assert elf.key != plain.key
    assert plain.config["elf"] is None and plain.config["source"] == "random-ipc5"
    assert elf.config["elf"] == FAST.to_dict() and elf.config["source"] == "random-ipc5+elf"
    assert {r.key for r in list_runs(db)} == {plain.key, elf.key}


def test_elf_is_refused_for_full_data_training(tiny):
    data, db, dataset = tiny
    with pytest.raises(ValueError, match="ELF supervises training on a distilled set"):
        nas.api.Evaluator(db, data, dataset, None, FAST)


def test_report_lists_elf_runs_as_their_own_row(tiny):
    data, db, dataset = tiny
    proxy = nas.api.build_proxy(db, data, dataset, "random", ipc=5)
    cfg, arch = TrainConfig(epochs=1), "d1-w32-relu-instance-avg"
    nas.api.Evaluator(db, data, dataset, None).evaluate("convnet720", arch, cfg, 0)
    nas.api.Evaluator(db, data, dataset, proxy).evaluate("convnet720", arch, cfg, 0)
    nas.api.Evaluator(db, data, dataset, proxy, FAST).evaluate("convnet720", arch, cfg, 0)
    for arch in ("d1-w32-relu-none-avg",):  # a second architecture for the rank metrics
        nas.api.Evaluator(db, data, dataset, None).evaluate("convnet720", arch, cfg, 0)
        nas.api.Evaluator(db, data, dataset, proxy).evaluate("convnet720", arch, cfg, 0)
        nas.api.Evaluator(db, data, dataset, proxy, FAST).evaluate("convnet720", arch, cfg, 0)
    report = build_report(db, dataset, ReportConfig(zero_cost=False, n_resamples=10))
    rows = {r.name: r.details for r in report.rows}
    assert set(rows) == {"random-ipc5", "random-ipc5+elf"}
    assert rows["random-ipc5"]["elf"] is None and rows["random-ipc5+elf"]["elf"] == FAST.to_dict()
    assert rows["random-ipc5+elf"]["protocol"]["runs"] == 2
