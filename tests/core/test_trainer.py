import torch

from nas.core.trainer import TrainConfig, build_seeded, train
from search_spaces import build_convnet
from tests.datasets import class_tensors


def _tiny_task(n=24, size=8):
    return class_tensors(n, size)


def _make(arch="d1-w32-relu-instance-avg", size=8):
    return lambda: build_convnet(arch, num_classes=3, im_size=size)


CFG = TrainConfig(epochs=4, batch_size=16)


def test_same_seed_gives_identical_accuracy_and_loss():
    x, y = _tiny_task()
    runs = [train(_make(), (x, y), CFG, seed=7, eval_sets={"val": (x, y)}) for _ in range(2)]
    assert runs[0].accuracies == runs[1].accuracies
    assert runs[0].train_loss == runs[1].train_loss


def test_different_seeds_give_different_runs():
    x, y = _tiny_task()
    a = train(_make(), (x, y), CFG, seed=1, eval_sets={"val": (x, y)})
    b = train(_make(), (x, y), CFG, seed=2, eval_sets={"val": (x, y)})
    assert a.train_loss != b.train_loss


def test_training_learns_an_easy_task():
    x, y = _tiny_task()
    result = train(_make(), (x, y), TrainConfig(epochs=15, batch_size=16, augment="none"),
                   seed=0, eval_sets={"val": (x, y)})
    assert result.status == "finished"
    assert result.accuracies["val"] > 0.9


def test_diverging_run_is_stopped_and_reported_not_raised():
    x, y = _tiny_task()
    cfg = TrainConfig(epochs=20, batch_size=16, lr=1e6, augment="none")
    result = train(_make("d4-w64-sigmoid-none-none"), (x, y), cfg, seed=0,
                   eval_sets={"val": (x, y)})
    assert result.status == "diverged"
    assert result.epochs_done < 20
    assert result.accuracies == {}


def test_build_seeded_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a = build_seeded(_make(), 3)
    b = build_seeded(_make(), 3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_inputs_are_not_mutated_and_epoch_callback_sees_validation():
    x, y = _tiny_task()
    before = x.clone()
    seen = []
    train(_make(), (x, y), TrainConfig(epochs=4, batch_size=16, report_every=2), seed=0,
          eval_sets={"val": (x, y)}, on_epoch=lambda e, acc: seen.append(e))
    assert torch.equal(x, before)
    assert seen == [2, 4]


def test_execution_details_do_not_change_the_protocol_but_hyperparameters_do():
    base = TrainConfig()
    assert TrainConfig(compile=True, report_every=1, eval_batch_size=7).protocol() == \
        base.protocol()
    assert TrainConfig(lr=0.1).protocol() != base.protocol()
