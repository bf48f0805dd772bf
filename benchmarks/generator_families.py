"""Generator families for D2M at a CPU budget: ConvNet-3 test accuracy of each family's
generator alone and after D2M distillation, at IPC 10 and 50, two seeds, beside random real
subsets and DM.

    PYTHONPATH=. python benchmarks/generator_families.py OUT.json --db URL \
        [--families biggan cvae] [--iterations biggan=1000 cvae=3000] [--import biggan=FILE] \
        [--ipcs 10 50] [--seeds 0 1] [--epochs 200]

Data: CIFAR-10 at 16x16 with 500 training images per class and 100 test images per class
(the ``cpu`` preset's split). Generators have width 16 (``nas pretrain --width 16``); D2M
and DM use the ``cpu`` preset's budgets. Each set trains ConvNet-3 (d3-w128-relu-instance-avg)
with the toolkit's protocol (TrainConfig defaults: 200 epochs, SGD lr 0.01, DSA), seeded with
the set's seed, in one one-thread process per core (``--epochs`` shortens it). Generators
and sets are cached in the database and accuracies in OUT.json, so a re-run resumes.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import torch

from nas import api
from nas.bench.fidelity import get_preset
from nas.core.data import DataConfig, resolve_data_path
from nas.core.parallel import cpu_cores, shared_data, worker_pool
from nas.core.trainer import TrainConfig, train
from nas.distillers import get_distiller
from nas.distillers.generators import import_generator
from proxies.d2m.checkpoint import load_generator
from proxies.d2m.distill import D2MConfig
from proxies.d2m.generate import generate
from proxies.d2m.images import unit_to_standardized
from proxies.d2m.pretrain import PretrainConfig
from search_spaces import build_convnet
from storage import Database

CONVNET3 = "d3-w128-relu-instance-avg"
D2M_CPU = D2MConfig(iterations=200)  # the cpu preset's D2M budget


def _train(job: tuple[str, torch.Tensor, torch.Tensor, int, int]
           ) -> tuple[str, float, float]:
    name, x, y, seed, epochs = job
    shared = shared_data()
    make = partial(build_convnet, CONVNET3, in_channels=x.shape[1],
                   num_classes=shared["classes"], im_size=x.shape[-1])
    start = time.perf_counter()
    result = train(make, (x, y), TrainConfig(epochs=epochs), seed=seed,
                   eval_sets={"test": shared["test"]})
    return name, result.accuracies["test"], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--db", required=True)
    parser.add_argument("--data", default=None,
                        help="CIFAR-10 (default: $NAS_DATA, ../shared/data/cifar10, download)")
    parser.add_argument("--families", nargs="+", default=["biggan", "cvae"])
    parser.add_argument("--iterations", nargs="*", default=[], metavar="FAMILY=N")
    parser.add_argument("--import", dest="imports", nargs="*", default=[],
                        metavar="FAMILY=FILE", help="use a pre-trained generator file")
    parser.add_argument("--ipcs", nargs="+", type=int, default=[10, 50])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    args = parser.parse_args()
    ipcs, seeds = args.ipcs, args.seeds
    iterations = {k: int(v) for k, v in (item.split("=") for item in args.iterations)}
    imports = dict(item.split("=") for item in args.imports)
    report = json.loads(args.out.read_text()) if args.out.is_file() else {"accuracy": {}}

    def save() -> None:
        args.out.write_text(json.dumps(report, indent=1))

    data = api.load_data(DataConfig(path=str(resolve_data_path(args.data)), resize=16,
                                    per_class=500, test_per_class=100))
    db = Database(args.db)
    dataset = api.register_dataset(db, data)
    sets: dict[str, tuple[torch.Tensor, torch.Tensor, int]] = {}

    def add(name: str, seed: int, record) -> None:
        proxy_set = api.load_proxy_set(record)
        sets[name] = (proxy_set.images, proxy_set.labels, seed)

    for ipc in ipcs:
        for seed in seeds:
            add(f"random/ipc{ipc}/seed{seed}", seed,
                api.build_proxy(db, data, dataset, "random", ipc=ipc, seed=seed))
            add(f"dm/ipc{ipc}/seed{seed}", seed,
                api.build_proxy(db, data, dataset, "dm", ipc=ipc, seed=seed,
                                options=get_preset("cpu").proxy_options["dm"]))
    for family in args.families:
        if family in imports:
            pretrained = import_generator(db, data, dataset, Path(imports[family]))
        else:
            config = PretrainConfig(generator=family, iterations=iterations.get(family, 1000),
                                    checkpoint_every=100)
            pretrained = get_distiller("gan").distil(db, data, dataset, config, seed=0,
                                                     width=16)
        report.setdefault("pretrain", {})[family] = {
            "seconds": pretrained.build_seconds,  # the work folder, not this machine's path
            "params": {k: v for k, v in pretrained.params.items() if k != "workdir"},
            "hash": pretrained.artifact_hash}
        generator = load_generator(pretrained.artifact_path)
        for seed in seeds:
            distilled = get_distiller("d2m").distil(db, data, dataset, D2M_CPU, seed=seed,
                                                    base=pretrained.artifact_hash)
            report.setdefault("d2m", {})[f"{family}/seed{seed}"] = {
                "seconds": distilled.build_seconds, "hash": distilled.artifact_hash}
            for ipc in ipcs:
                images, labels = generate(generator, ipc, seed)
                sets[f"{family}/ipc{ipc}/seed{seed}"] = (
                    unit_to_standardized(images, data.mean, data.std).float(), labels, seed)
                add(f"{family}+d2m/ipc{ipc}/seed{seed}", seed,
                    api.build_proxy(db, data, dataset, "d2m", ipc=ipc, seed=seed,
                                    artifact=distilled.artifact_hash))
        save()
    jobs = [(name, x, y, seed, args.epochs) for name, (x, y, seed) in sets.items()
            if name not in report["accuracy"]]
    shared = {"test": (data.normalize(data.test_images), data.test_labels),
              "classes": data.num_classes}
    with worker_pool(cpu_cores(), threads_per_worker=1, shared=shared) as pool:
        for name, acc, seconds in pool.imap_unordered(_train, jobs):
            report["accuracy"][name] = {"test_acc": acc, "train_seconds": seconds}
            print(f"{name}: {acc:.4f} ({seconds:.0f} s)", flush=True)
            save()
    report["protocol"] = {"arch": CONVNET3, "train": TrainConfig(epochs=args.epochs).to_dict(),
                          "data": data.describe(), "d2m": D2M_CPU.to_dict(),
                          "dm": get_preset("cpu").proxy_options["dm"]}
    save()


if __name__ == "__main__":
    main()
