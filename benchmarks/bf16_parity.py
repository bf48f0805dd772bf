"""bf16 against float32 on the speed mix: time and each architecture's test accuracy.

Trains the speed benchmark's mix (``nas bench speed --mix``'s 82 architectures, random real
IPC 10 of CIFAR-10 at 16x16, 50 epochs) as ``nas`` does (one one-thread worker per core,
longest first) four times back to back: bf16 and float32 (``TrainConfig.amp``) at seeds 0
and 1, and prints each pass's wall time, mean accuracy and the Spearman correlations between
passes (same seed, other precision vs same precision, other seed). bf16 only differs from
float32 where ``nas.core.trainer.uses_bf16`` holds (CPUs with native bf16).

    PYTHONPATH=. python benchmarks/bf16_parity.py --data ../shared/data/cifar10 --json F
"""
from __future__ import annotations

import argparse
import json
import time
from itertools import combinations

from scipy import stats

from nas.api import longest_first, train_on_shared
from nas.bench.mix import MixConfig
from nas.bench.speed import SpeedConfig, bench_data
from nas.bench.trainers import shape_of, space_of
from nas.core.parallel import cpu_cores, worker_pool
from nas.core.runtime import configure
from nas.core.trainer import TrainConfig

PASSES = ((True, 0), (False, 0), (False, 1), (True, 1))  # (amp, seed), run in this order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="image dataset directory")
    parser.add_argument("--epochs", type=int, default=MixConfig.epochs)
    parser.add_argument("--json", help="write every pass's accuracies and seconds here")
    args = parser.parse_args()
    configure()
    mix = MixConfig(epochs=args.epochs, data=args.data)
    data, _ = bench_data(SpeedConfig(archs=(), ipc=mix.ipc, test_per_class=mix.test_per_class,
                                     resize=mix.resize, epochs=mix.epochs, data=mix.data))
    archs = mix.archs()
    shared = {"train_set": (data["train_images"], data["train_labels"]),
              "eval_sets": {"test": (data["test_images"], data["test_labels"])},
              "shape": shape_of(data)}
    passes = {}
    with worker_pool(cpu_cores(), threads_per_worker=1, shared=shared) as pool:
        for amp, seed in PASSES:
            jobs = longest_first([(space_of(a), a, TrainConfig(epochs=mix.epochs, amp=amp), seed)
                                  for a in archs], shared["shape"])
            start = time.perf_counter()
            results = list(pool.imap_unordered(train_on_shared, jobs))
            name = f"{'bf16' if results[0][1].bf16 else 'fp32'}-s{seed}"
            passes[name] = {"wall": time.perf_counter() - start,
                            "acc": {a: r.accuracies.get("test") for a, r, _ in results},
                            "secs": {a: r.wall_seconds for a, r, _ in results}}
            accs = passes[name]["acc"]
            print(f"{name}: {passes[name]['wall']:.1f} s, mean test acc "
                  f"{sum(accs.values()) / len(accs):.4f}", flush=True)
    for a, b in combinations(passes, 2):
        rho = stats.spearmanr([passes[a]["acc"][x] for x in archs],
                              [passes[b]["acc"][x] for x in archs]).statistic
        print(f"Spearman {a} vs {b}: {rho:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(passes, f, indent=1)


if __name__ == "__main__":
    main()
