"""Small check of ELF's rear term: labels from the feature net's features (ELF) vs MSE to its
deep features (variant) vs no ELF, on a random IPC-10 subset of 5 CIFAR-10 classes at 16x16.

    PYTHONPATH=. python benchmarks/elf_rear_check.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

import torch

from nas import api
from nas.core.data import DataConfig, resolve_data_path
from nas.core.elf import ElfConfig, ElfLoss, feature_network
from nas.core.trainer import TrainConfig, train
from proxies.random_subset import class_balanced_indices
from search_spaces import build_convnet

CLASSES = ("airplane", "automobile", "bird", "cat", "deer")
ARCHS = ("d3-w128-relu-instance-avg", "d2-w64-relu-batch-max", "d3-w32-sigmoid-none-avg",
         "d1-w128-leakyrelu-group-max", "d2-w32-relu-layer-avg")


def main(out: Path) -> None:
    torch.set_num_threads(1)
    data = api.load_data(DataConfig(path=str(resolve_data_path()), resize=16,
                                    classes=CLASSES, per_class=300, test_per_class=200))
    k = data.num_classes
    idx = class_balanced_indices(data.train_labels, 10, k, torch.Generator().manual_seed(0))
    proxy = (data.normalize(data.train_images[idx]), data.train_labels[idx])
    test = {"test": (data.normalize(data.test_images), data.test_labels)}
    fnet = feature_network(data, ElfConfig(feature_epochs=20), out / "artifacts")
    cfg = TrainConfig(epochs=100)
    results = []
    for arch in ARCHS:
        width = int(arch.split("-")[1][1:])
        make = partial(build_convnet, arch, num_classes=k, im_size=data.im_size)
        for seed in (0, 1):
            row = {"arch": arch, "seed": seed}
            for variant in ("none", "labels", "features"):
                extra = {}
                if variant != "none":
                    loss = ElfLoss(fnet, (width, width), ElfConfig(rear_target=variant),
                                   im_size=16, seed=seed + 1)
                    extra = {"loss_fn": loss, "extra_modules": [loss.adapters]}
                res = train(make, proxy, cfg, seed=seed, eval_sets=test, **extra)
                row[variant] = res.accuracies.get("test", float("nan"))
            results.append(row)
            print(json.dumps(row), flush=True)
    mean = {v: sum(r[v] for r in results) / len(results) for v in ("none", "labels", "features")}
    print(json.dumps({"mean_test_accuracy": mean}), flush=True)
    (out / "report.json").write_text(json.dumps({"runs": results, "mean": mean}, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
