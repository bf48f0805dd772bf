"""The trainers the speed benchmark compares, each run in a fresh process.

``python -m nas.bench.trainers KIND DATA.pt ARCH EPOCHS SEED [DEVICE]`` prints one JSON line
(DEVICE: where it trains, default cpu); KIND is
a key of TRAINERS (``reference-mix DATA.pt ARCHS.json EPOCHS SEED``: the reference over a
list, one architecture after another). The reference is what a plain PyTorch script does:
TensorDataset + DataLoader (batch 256, shuffled), the same DSA per batch, glibc's default
allocator and torch's default thread count. This module imports nothing that tunes the
process, so the reference's process stays untouched; the toolkit runs call
``nas.core.runtime.configure`` first, as the ``nas`` CLI does.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nas.core.augment import DSA, DSAConfig
from nas.core.trainer import TrainConfig
from search_spaces import get_space
from search_spaces.nb201 import AvgPool3x3, compute_every_edge


def space_of(arch: str) -> str:
    """The search space of an architecture id: NAS-Bench-201 cell strings start with "|"."""
    return "nb201" if arch.startswith("|") else "convnet720"


def shape_of(data: dict) -> dict:
    """The network-building shape of a benchmark data dict (channels, classes, size)."""
    x = data["train_images"]
    return dict(in_channels=x.shape[1], num_classes=int(data["num_classes"]),
                im_size=x.shape[-1])


def make_net(arch: str, data: dict) -> nn.Module:
    return get_space(space_of(arch)).build(arch, **shape_of(data))


def with_published_layers(net: nn.Module) -> nn.Module:
    """``net`` with NAS-Bench-201's average pooling as the benchmark's code builds it
    (``nn.AvgPool2d``) in place of the toolkit's equivalent depthwise form, and cells that
    compute every edge, "none" edges included, as that code does: what a plain script over
    the published network trains."""
    for module in compute_every_edge(net).modules():
        for name, child in module.named_children():
            if isinstance(child, AvgPool3x3):
                setattr(module, name, nn.AvgPool2d(3, 1, 1, count_include_pad=False))
    return net


def reference(data: dict, arch: str, config: TrainConfig, seed: int,
              device: str = "cpu") -> dict:
    """Plain loop with the toolkit's protocol (same init, optimiser, lr step and DSA) on the
    published network layers, NCHW, float32; on ``device``, each batch moved there as a
    script's loop does."""
    torch.manual_seed(seed)  # a script seeds globally; build_seeded gives the same weights
    net = with_published_layers(make_net(arch, data)).to(device)
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(data["train_images"], data["train_labels"]),
                        batch_size=config.batch_size, shuffle=True, generator=generator)
    dsa = DSA(DSAConfig(config.augment))
    optimizer = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    criterion = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for epoch in range(config.epochs):
        if epoch == int(config.epochs * config.lr_decay_at) and epoch > 0:  # fresh SGD
            optimizer = torch.optim.SGD(net.parameters(), lr=config.lr * 0.1,
                                        momentum=config.momentum,
                                        weight_decay=config.weight_decay)
        net.train()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = criterion(net(dsa(x, generator)), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()  # the queued steps belong to training time
    train_seconds = time.perf_counter() - start
    net.eval()
    correct = 0
    with torch.no_grad():
        for x, y in DataLoader(TensorDataset(data["test_images"], data["test_labels"]),
                               batch_size=config.batch_size):
            correct += int((net(x.to(device)).argmax(1).cpu() == y).sum())
    return {"train_seconds": train_seconds, "wall_seconds": time.perf_counter() - start,
            "test_acc": correct / len(data["test_labels"])}


def toolkit(data: dict, arch: str, config: TrainConfig, seed: int,
            device: str = "cpu") -> dict:
    """``nas.core.trainer.train`` on ``device`` in a process set up like the ``nas`` CLI's."""
    from nas.core.runtime import configure
    from nas.core.trainer import train

    configure()
    result = train(partial(make_net, arch, data), (data["train_images"], data["train_labels"]),
                   config, seed=seed, eval_sets={"test": (data["test_images"],
                                                          data["test_labels"])},
                   device=device)
    n = len(data["train_labels"])
    return {"train_seconds": result.epochs_done * n / result.images_per_second,
            "wall_seconds": result.wall_seconds, "test_acc": result.accuracies["test"],
            "bf16": result.bf16}


TRAINERS = {
    "reference": reference,
    "toolkit": toolkit,  # TrainConfig's default: compiles only long runs (compile time counts)
    "toolkit-eager": lambda data, arch, config, seed, device: toolkit(
        data, arch, replace(config, compile=False), seed, device),
    "toolkit-compiled": lambda data, arch, config, seed, device: toolkit(
        data, arch, replace(config, compile=True), seed, device),
}


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads of this process
    return usage.ru_utime + usage.ru_stime


def reference_mix(data: dict, archs: list[str], config: TrainConfig, seed: int) -> dict:
    """The reference loop over ``archs`` one after another, as a plain script would."""
    start = time.perf_counter()
    accs = [reference(data, arch, config, seed)["test_acc"] for arch in archs]
    return {"wall_seconds": time.perf_counter() - start, "test_accs": accs}


def main(argv: list[str]) -> int:
    if argv[0] == "reference-mix":  # reference-mix DATA.pt ARCHS.json EPOCHS SEED
        _, path, archs, epochs, seed = argv
        data = torch.load(path, weights_only=True)
        out = reference_mix(data, json.loads(Path(archs).read_text()),
                            TrainConfig(epochs=int(epochs)), int(seed))
        print(json.dumps(out))
        return 0
    kind, path, arch, epochs, seed, *device = argv
    data = torch.load(path, weights_only=True)
    config = TrainConfig(epochs=int(epochs))
    before = cpu_seconds()
    out = TRAINERS[kind](data, arch, config, int(seed), *device)
    out["cpu_seconds"] = cpu_seconds() - before  # CPU time of training and scoring
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
