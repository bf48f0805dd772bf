"""ConvNet-3 test accuracy of proxy sets (random, DM, D2M fixed and on the fly) through the
product's own path: `nas proxy` builds each set, `nas search` trains on it.

    PYTHONPATH=. python benchmarks/d2m_accuracy.py OUT.json --db URL \
        [--sources random dm d2m d2m-fly d2m-fly:refresh_every=10] [--artifact PREFIX] \
        [--tag NAME | --label ROW] [--ipcs 10 50] [--seeds 0 1] [--workers 2] [dataset flags]

Dataset flags as every `nas` command takes them (default: the ``cpu`` preset's split,
CIFAR-10 at 16x16, 500 training images per class, 100 test images per class). A source is a
proxy method with optional build options (``method:key=value,...``); DM uses the ``cpu``
preset's budget unless options are given; D2M sources sample the distilled generator whose
hash starts with ``--artifact`` (default: the newest), and ``--tag`` names it in OUT.json
(e.g. "cvae6000+d2m200"). Every set trains ConvNet-3 (``d3-w128-relu-instance-avg``) with
the toolkit's protocol (200 epochs, SGD lr 0.01, DSA), seeded with the set's seed. Runs are
cached in the database and OUT.json is merged, so re-running resumes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from nas import api
from nas.bench.fidelity import get_preset
from nas.cli.common import add_dataset, data_config
from nas.core.runtime import configure, machine
from nas.core.trainer import TrainConfig
from proxies import get_proxy
from proxies.artifacts import BUILT_FROM
from storage import Database

CONVNET3 = "d3-w128-relu-instance-avg"


def parse_source(text: str) -> tuple[str, dict]:
    """``"d2m-fly:refresh_every=10"`` -> ("d2m-fly", {"refresh_every": 10})."""
    method, _, rest = text.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        options[key] = int(value) if value.lstrip("-").isdigit() else value
    if method == "dm" and not options:
        options = dict(get_preset("cpu").proxy_options["dm"])
    return method, options


def artifact_costs(db: Database, dataset, kind: str, digest: str) -> dict:
    """Wall seconds that made the artifact a set samples from, and the one it refines."""
    artifact = api.stored_artifact(db, dataset, kind, digest)
    costs = {"distill_seconds": artifact.build_seconds}
    if BUILT_FROM.get(kind) and "base" in artifact.params:
        costs["pretrain_seconds"] = api.stored_artifact(db, dataset, BUILT_FROM[kind],
                                                        artifact.params["base"]).build_seconds
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--sources", nargs="+", default=["random", "dm", "d2m", "d2m-fly"])
    parser.add_argument("--artifact", default="", help="distilled generator hash prefix")
    parser.add_argument("--tag", default="", help="name of the generator in OUT.json")
    parser.add_argument("--label", default="", help="the row's name in OUT.json (one source)")
    parser.add_argument("--ipcs", nargs="+", type=int, default=[10, 50])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--workers", type=int, default=1)
    add_dataset(parser)
    parser.set_defaults(resize=16, per_class=500, test_per_class=100)
    args = parser.parse_args()
    configure(1)
    report = json.loads(args.out.read_text()) if args.out.is_file() else {}
    data = api.load_data(data_config(args))
    db = Database(args.db or "sqlite:///nas-runs/nas.db")
    dataset = api.register_dataset(db, data)
    train = TrainConfig(epochs=args.epochs)
    for text in args.sources:
        method, options = parse_source(text)
        consumes = get_proxy(method).consumes
        name = args.label or text + (f"@{args.tag}" if consumes and args.tag else "")
        for ipc in args.ipcs:
            for seed in args.seeds:
                proxy = api.build_proxy(db, data, dataset, method, ipc=ipc, seed=seed,
                                        options=options or None,
                                        artifact=args.artifact if consumes else "")
                start = time.perf_counter()
                (run,) = api.evaluate_architectures(
                    db, data, dataset, proxy, api.EvaluationPlan("convnet720", [CONVNET3],
                                                                 train, seed=seed),
                    progress=False, workers=args.workers)
                report.setdefault("sources", {}).setdefault(name, {})[f"ipc{ipc}/seed{seed}"] = {
                    "test_acc": run.test_acc, "epochs": run.epochs,
                    "train_seconds": run.wall_seconds,
                    "fresh_seconds": run.config.get("fresh_seconds", 0.0),
                    "build_seconds": proxy.build_seconds, "proxy": proxy.key,
                    **(artifact_costs(db, dataset, consumes, proxy.params["artifact"])
                       if consumes else {}),
                    "artifact": proxy.params.get("artifact"), "device": run.device}
                print(f"{name} ipc{ipc} seed{seed}: {run.test_acc:.4f} ({run.epochs} epochs, "
                      f"{run.wall_seconds:.0f} s; {time.perf_counter() - start:.0f} s here)",
                      flush=True)
                report["protocol"] = {"arch": CONVNET3, "train": train.to_dict(),
                                      "data": data.describe()}
                report["machine"] = machine()
                args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
