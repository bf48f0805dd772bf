"""Where ConvNet-3's training time goes on a CPU without native bf16: one-thread training-step
and scoring times under each CPU-kernel limit and precision, each setting in a fresh process
(the limits act at start-up), the settings alternated over rounds so a shared machine's load
falls on all alike.

    PYTHONPATH=. python benchmarks/cpu_isa_steps.py [--rounds 2] [--steps 6] [--json OUT]

A step is what ``nas.core.trainer.train`` does per batch: DSA on 256 of 500 random 32x32
images (IPC 50), forward, backward and SGD, in the trainer's layout (``memory_format_for``),
eager or compiled, float32 or under bf16 autocast. Scoring is one eager ``evaluate`` of 256
images (a learning-curve point) in the same layout. Settings:

- ``native``: the CPU's own kernels (here AVX-512, with AVX512-BF16);
- ``aten-avx2``: ``ATEN_CPU_CAPABILITY=avx2`` only (ATen's own kernels and inductor's code,
  not oneDNN's convolutions or MKL's matmuls);
- ``avx2``: also ``ONEDNN_MAX_CPU_ISA=AVX2`` and ``MKL_ENABLE_INSTRUCTIONS=AVX2``: every
  kernel as on an AVX2-only CPU.

Each child times ``--steps`` steps after two warm-up steps (the compile) and reports the
median, the fastest and the scoring time; the parent prints one row per setting (medians over
rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ISA_ENV = {
    "native": {},
    "aten-avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}
# (isa, precision, compiled): float32 everywhere, bf16 only where the CPU has it natively
SETTINGS = [(isa, "float32", compiled) for isa in ISA_ENV for compiled in (False, True)] + [
    ("native", "bf16", False), ("native", "bf16", True)]
ARCH = "d3-w128-relu-instance-avg"


def child(precision: str, compiled: bool, steps: int) -> dict:
    """Time the trainer's step and one scoring pass in this process (one thread)."""
    import torch
    from torch import nn

    from nas.core.augment import DSA, DSAConfig
    from nas.core.runtime import configure
    from nas.core.trainer import build_seeded, evaluate, memory_format_for
    from search_spaces import get_space

    configure(1)
    bf16 = precision == "bf16"
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(500, 3, 32, 32, generator=generator)
    labels = torch.arange(10).repeat_interleave(50)
    net = build_seeded(lambda: get_space("convnet720").build(ARCH, in_channels=3,
                                                             num_classes=10, im_size=32), 0)
    layout = memory_format_for(net, fused=compiled)
    net = net.to(memory_format=layout)
    model = torch.compile(net) if compiled else net
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    dsa, criterion = DSA(DSAConfig()), nn.CrossEntropyLoss()

    def step() -> float:
        idx = torch.randperm(500, generator=generator)[:256]
        start = time.perf_counter()
        x = dsa(images[idx], generator).contiguous(memory_format=layout)
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = criterion(model(x), labels[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start

    step(), step()
    times = sorted(step() for _ in range(steps))
    start = time.perf_counter()
    evaluate(net, images[:256], labels[:256], batch_size=256, amp=bf16, memory_format=layout)
    return {"step_ms": 1000 * statistics.median(times), "fastest_ms": 1000 * times[0],
            "score_256_ms": 1000 * (time.perf_counter() - start),
            "capability": torch.backends.cpu.get_cpu_capability()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", nargs=2, metavar=("PRECISION", "COMPILED"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1] == "1", args.steps)))
        return
    root = str(Path(__file__).resolve().parents[1])
    rows: dict = {}
    for _ in range(args.rounds):
        for isa, precision, compiled in SETTINGS:
            env = {**os.environ, **ISA_ENV[isa], "PYTHONPATH": root}
            out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps),
                                  "--child", precision, str(int(compiled))],
                                 capture_output=True, text=True, env=env, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            rows.setdefault((isa, precision, compiled), []).append(result)
    table = []
    print(f"{'kernels':10s} {'precision':9s} {'mode':8s} {'step ms':>8s} {'fastest':>8s} "
          f"{'score 256':>9s}  capability")
    for (isa, precision, compiled), results in rows.items():
        row = {"kernels": isa, "precision": precision, "compiled": compiled,
               **{k: round(statistics.median(r[k] for r in results), 1)
                  for k in ("step_ms", "fastest_ms", "score_256_ms")},
               "capability": results[0]["capability"], "rounds": len(results)}
        table.append(row)
        print(f"{isa:10s} {precision:9s} {'compiled' if compiled else 'eager':8s} "
              f"{row['step_ms']:8.0f} {row['fastest_ms']:8.0f} {row['score_256_ms']:9.0f}  "
              f"{row['capability']}")
    if args.json:
        args.json.write_text(json.dumps({"arch": ARCH, "load": os.getloadavg(),
                                         "rows": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
