"""nas.core.trainer speed options: torch.compile and the CPU evaluation batch keep results."""

from __future__ import annotations

import shutil
from dataclasses import replace
from functools import partial

import pytest
import torch

from nas.bench.speed import synthetic_task
from nas.core.trainer import (
    COMPILE_MIN_FLOPS,
    CPU_EVAL_BATCH,
    TrainConfig,
    evaluate,
    memory_format_for,
    should_compile,
    train,
    training_flops,
    uses_bf16,
)
from search_spaces import ConvNetSpec, build_convnet, build_nb201, count_macs
from tests.datasets import class_tensors

RESNET_CELL = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


@pytest.fixture(scope="module")
def tiny_task():
    return synthetic_task(8, 10, 2, 8, torch.Generator().manual_seed(0), noise=2.0)


@pytest.mark.slow
def test_compiled_training_follows_the_eager_run(tiny_task):
    (x, y), test = tiny_task
    make = partial(build_convnet, "d1-w32-relu-instance-avg", num_classes=2, im_size=8)
    config = TrainConfig(epochs=2, batch_size=6, augment="none", compile=False,  # 6, 6, 4
                         amp=False)  # float32 on every CPU: compiling alone is compared
    eager = train(make, (x, y), config, seed=0, eval_sets={"test": test})
    compiled = train(make, (x, y), replace(config, compile=True), seed=0,
                     eval_sets={"test": test})
    assert compiled.train_loss == pytest.approx(eager.train_loss, rel=1e-4)
    assert compiled.accuracies == eager.accuracies
    assert (compiled.compiled, eager.compiled) == (True, False)  # reported with the result


def test_scoring_in_cpu_sized_chunks_gives_the_one_batch_accuracy(tiny_task):
    net = build_convnet("d1-w32-relu-batch-avg", num_classes=2, im_size=8)
    x = torch.randn(CPU_EVAL_BATCH + 37, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 2, (len(x),), generator=torch.Generator().manual_seed(2))
    assert evaluate(net, x, y, batch_size=CPU_EVAL_BATCH) == evaluate(net, x, y,
                                                                       batch_size=len(x))


def test_compilation_is_automatic_only_for_runs_long_enough_to_repay_it(monkeypatch):
    auto, cpu, cuda = TrainConfig(epochs=200), torch.device("cpu"), torch.device("cuda")
    assert not should_compile(auto, COMPILE_MIN_FLOPS / 2, cpu)
    assert should_compile(auto, COMPILE_MIN_FLOPS, cpu) == (shutil.which("g++") is not None)
    assert not should_compile(auto, 2 * COMPILE_MIN_FLOPS, cuda)  # eager unless asked for
    assert should_compile(replace(auto, compile=True), 0.0, cuda)
    assert not should_compile(replace(auto, compile=False), 2 * COMPILE_MIN_FLOPS, cpu)
    assert should_compile(replace(auto, compile=True), 0.0, cpu)
    monkeypatch.setenv("CXX", "no-such-compiler")  # inductor could not build its kernels
    assert not should_compile(auto, 2 * COMPILE_MIN_FLOPS, cpu)


def test_training_flops_are_three_forward_passes_of_the_analytic_count():
    spec = ConvNetSpec.parse("d3-w128-relu-batch-avg")
    net = build_convnet(spec)
    before = net.features[1].running_mean.clone()
    images = torch.zeros(500, 3, 32, 32)
    assert training_flops(net, images, 200) == 3 * 2 * count_macs(spec) * 500 * 200
    assert torch.equal(net.features[1].running_mean, before) and net.training
    # the literature's protocol (ConvNet-3, IPC 50, 200 epochs) compiles at 32x32, not at 16x16
    assert training_flops(net, images, 200) > COMPILE_MIN_FLOPS
    small = build_convnet(spec, im_size=16)
    assert training_flops(small, torch.zeros(500, 3, 16, 16), 200) < COMPILE_MIN_FLOPS


@pytest.mark.parametrize("arch", ["d1-w32-relu-batch-avg", "d1-w32-relu-none-max"])
def test_channels_last_cpu_training_follows_the_nchw_run(tiny_task, monkeypatch, arch):
    (x, y), test = tiny_task
    make = partial(build_convnet, arch, num_classes=2, im_size=8)
    config = TrainConfig(epochs=2, batch_size=6, compile=False, amp=False)
    assert memory_format_for(make(), fused=False) == torch.channels_last
    last = train(make, (x, y), config, seed=0, eval_sets={"test": test})
    monkeypatch.setattr("nas.core.trainer.memory_format_for",
                        lambda net, fused: torch.contiguous_format)
    nchw = train(make, (x, y), config, seed=0, eval_sets={"test": test})
    assert last.train_loss == pytest.approx(nchw.train_loss, rel=1e-4)
    assert last.accuracies == nchw.accuracies


def test_layout_is_nchw_only_for_eager_networks_with_group_layer_or_instance_norm():
    last, nchw = torch.channels_last, torch.contiguous_format
    for norm in ("instance", "group", "layer"):
        net = build_convnet(f"d1-w32-relu-{norm}-avg", im_size=8)
        assert memory_format_for(net, fused=False) == nchw
        assert memory_format_for(net, fused=True) == last  # AMP on CUDA, or compiled
    assert memory_format_for(build_nb201(RESNET_CELL, im_size=8), fused=False) == last


def _native_bf16(monkeypatch, avx512_bf16: bool, amx: bool = False) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)


def test_amp_means_bf16_on_cuda_and_on_cpus_with_native_bf16_instructions(monkeypatch):
    on, off = TrainConfig(), TrainConfig(amp=False)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert uses_bf16(on, cuda) and not uses_bf16(off, cuda)
    for avx512_bf16, amx, expected in ((True, False, True), (False, True, True),
                                       (False, False, False)):
        _native_bf16(monkeypatch, avx512_bf16, amx)
        assert uses_bf16(on, cpu) == expected
        assert not uses_bf16(off, cpu)


def test_bf16_cpu_training_convolves_in_bf16_and_learns_like_float32(monkeypatch):
    _native_bf16(monkeypatch, True)  # any CPU runs bf16 (emulated where not native)
    x, y = class_tensors(24, 8)
    dtypes = []

    def make():
        net = build_convnet("d1-w32-relu-batch-avg", num_classes=3, im_size=8)
        net.features[0].register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
        return net

    config = TrainConfig(epochs=15, batch_size=16, augment="none", compile=False)
    bf16 = train(make, (x, y), config, seed=0, eval_sets={"val": (x, y)})
    assert set(dtypes) == {torch.bfloat16} and bf16.bf16  # training and scoring
    dtypes.clear()
    fp32 = train(make, (x, y), replace(config, amp=False), seed=0, eval_sets={"val": (x, y)})
    assert set(dtypes) == {torch.float32} and not fp32.bf16
    assert bf16.train_loss != fp32.train_loss  # rounded differently...
    assert bf16.accuracies["val"] > 0.9 and fp32.accuracies["val"] > 0.9  # ...learned alike


def _train_where_compiling_fails(_: int) -> list[tuple]:
    """In a fresh worker whose C++ compiler always fails: an eager run, then two runs asked
    to compile."""
    (x, y), test = synthetic_task(8, 10, 2, 8, torch.Generator().manual_seed(0), noise=8.0)
    make = partial(build_convnet, "d1-w32-relu-none-avg", num_classes=2, im_size=8)
    config = TrainConfig(epochs=2, batch_size=6, augment="none", compile=False, amp=False)
    runs = [train(make, (x, y), replace(config, compile=c), seed=0, eval_sets={"test": test})
            for c in (False, True, True)]
    return [(r.status, r.compiled, r.compile_error, r.train_loss, r.accuracies) for r in runs]


@pytest.mark.slow
def test_a_failed_compile_trains_eagerly_records_why_and_is_not_retried(tmp_path, monkeypatch):
    from nas.core.parallel import worker_pool

    monkeypatch.setenv("CXX", "false")  # read by inductor when the worker imports it
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))  # no kernels built before
    with worker_pool(1, threads_per_worker=1) as pool:
        eager, failed, later = pool.map(_train_where_compiling_fails, [0])[0]
    assert failed[:2] == ("finished", False) and "compiler" in failed[2].lower()
    # the failed step was taken again eagerly: the run is the eager run
    assert (failed[3], failed[4]) == (pytest.approx(eager[3], rel=1e-6), eager[4])
    assert later[:2] == ("finished", False)
    assert later[2] == f"failed earlier in this process: {failed[2]}"
    assert eager[2] == ""
