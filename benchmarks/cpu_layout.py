"""Training-step time of the speed mix's architectures on one CPU thread, before and after
the toolkit's CPU layout choices, alternating in one process so that a noisy machine loads
both sides alike.

    PYTHONPATH=. python benchmarks/cpu_layout.py [--convnets 32] [--cells 50] [--steps 3]
        [--edges-only]

Before: NCHW tensors, NAS-Bench-201's published ``nn.AvgPool2d`` and cells that compute every
edge (what the speed benchmark's reference trains). After: ``memory_format_for``'s layout, the
depthwise ``AvgPool3x3`` and cells that skip the edges that cannot change their output (what
``nas.core.trainer.train`` runs). ``--edges-only``: before differs from after only in
computing every edge. One step is SGD on 100 random images at 16x16 (the mix's IPC-10
batch); each side's time is the fastest of ``--steps`` steps after one warm-up step. Prints
one line per architecture and the sums per space.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import nn

from nas.bench.mix import MixConfig
from nas.bench.trainers import make_net, space_of, with_published_layers
from nas.core.runtime import configure
from nas.core.trainer import memory_format_for
from search_spaces.nb201 import compute_every_edge


def step_fn(arch: str, data: dict, after: bool, edges_only: bool) -> Callable[[], None]:
    """One SGD step of ``arch`` on ``data``'s batch, laid out before or after."""
    net = make_net(arch, data)
    if edges_only:
        layout = memory_format_for(net, fused=False)
        compute_every_edge(net, not after)
    else:
        layout = memory_format_for(net, fused=False) if after else torch.contiguous_format
        net = net if after else with_published_layers(net)
    net = net.to(memory_format=layout)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = data["train_images"].contiguous(memory_format=layout)

    def step() -> None:
        loss = nn.functional.cross_entropy(net(x), data["train_labels"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--convnets", type=int, default=32)
    parser.add_argument("--cells", type=int, default=50)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--edges-only", action="store_true",
                        help="compare only NAS-Bench-201's edge skipping")
    args = parser.parse_args()
    configure(1)
    generator = torch.Generator().manual_seed(0)
    data = {"train_images": torch.randn(100, 3, 16, 16, generator=generator),
            "train_labels": torch.randint(0, 10, (100,), generator=generator),
            "num_classes": 10}
    sums: dict[str, list[float]] = {}
    for arch in MixConfig(convnets=args.convnets, cells=args.cells).archs():
        steps = [step_fn(arch, data, after, args.edges_only) for after in (False, True)]
        times: list[list[float]] = [[], []]
        for step in steps:
            step()
        for _ in range(args.steps):
            for side, step in enumerate(steps):
                start = time.perf_counter()
                step()
                times[side].append(time.perf_counter() - start)
        before, after = min(times[0]), min(times[1])
        total = sums.setdefault(space_of(arch), [0.0, 0.0])
        total[0], total[1] = total[0] + before, total[1] + after
        print(f"{arch:90s} before {before * 1e3:7.1f} ms  after {after * 1e3:7.1f} ms  "
              f"{before / after:5.2f}x", flush=True)
    for space, (before, after) in sums.items():
        print(f"{space}: sum of step times before {before:.2f} s, after {after:.2f} s: "
              f"{before / after:.2f}x")


if __name__ == "__main__":
    main()
