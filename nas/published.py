"""Published ground truth: NAS-Bench-201's 200-epoch accuracies of every nb201 cell.

The table is found like the data (``nas.core.data.source``): the ``--benchmark-data`` flag, then
``$NAS_NB201``, then ``../shared/data/nas-bench-201`` beside the checkout, else the copy
packaged with ``search_spaces`` (``search_spaces/data/nb201.csv.gz``). ``record_published``
stores the chosen cells' accuracies as full-data runs of a dataset, labelled with their source,
so ``nas report`` ranks proxies against them without any training. See docs/nas-bench-201.md.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from nas.core.data import portable_path
from nas.core.outcome import RunStatus
from nas.errors import InputError
from search_spaces import Nb201Spec, get_space, nb201
from storage import Database, DatasetRecord, RunRecord, record_run

BENCHMARK_ENV = "NAS_NB201"
SHARED_FILE = "nb201_accuracies.csv"
_REPO_ROOT = Path(__file__).resolve().parents[1]
CITATION = ("X. Dong and Y. Yang, NAS-Bench-201: Extending the Scope of Reproducible Neural "
            "Architecture Search, ICLR 2020 (and NATS-Bench, TPAMI 2021)")

# benchmark metric -> (the benchmark's training set, column stored as test_acc, as val_acc)
METRICS = {
    "cifar10_test_acc": ("cifar10", "cifar10_test_acc", None),
    "cifar10_valid_acc": ("cifar10-valid", "cifar10valid_ori_test_acc", "cifar10_valid_acc"),
}
COLUMNS = ("cifar10_test_acc", "cifar10_valid_acc", "cifar10valid_ori_test_acc",
           "cifar100_test_acc", "imagenet16_test_acc")
# NAS-Bench-201's training hyper-parameters (as its paper lists them); the cosine schedule
# and Nesterov momentum have no TrainConfig field and are named in "schedule"
PROTOCOL = {"epochs": 200, "batch_size": 256, "lr": 0.1, "momentum": 0.9,
            "weight_decay": 5e-4, "augment": "crop_flip", "schedule": "cosine, nesterov"}


@dataclass(frozen=True)
class PublishedTable:
    """Accuracies in percent, ``values[column][arch_id]``; ``origin`` is the file read."""

    benchmark: str
    space: str
    origin: str
    values: dict[str, dict[str, float]]

    def accuracy(self, column: str) -> dict[str, float]:
        if column not in self.values:
            raise InputError(f"unknown benchmark column {column!r}; available: "
                             f"{sorted(self.values)}")
        return self.values[column]


def shared_candidates() -> list[Path]:
    return [Path.cwd().parent / "shared/data/nas-bench-201",
            _REPO_ROOT.parent / "shared/data/nas-bench-201"]


def resolve_table_path(flag: str | None = None) -> Path | None:
    """Flag, then $NAS_NB201, then the shared copy; None means the packaged copy. A
    directory stands for its ``nb201_accuracies.csv``."""
    for given in (flag, os.environ.get(BENCHMARK_ENV)):
        if given:
            path = Path(given).expanduser()
            path = path / SHARED_FILE if path.is_dir() else path
            if not path.is_file():
                raise InputError(f"NAS-Bench-201 table not found at {path}")
            return path
    for candidate in shared_candidates():
        if (candidate / SHARED_FILE).is_file():
            return (candidate / SHARED_FILE).resolve()
    return None


def load_nb201(flag: str | None = None) -> PublishedTable:
    """The NAS-Bench-201 table (see module docstring for where it is looked up).

    Raises:
        InputError: a file lacking the columns, or whose index-to-cell mapping disagrees with
            the nb201 space (a different benchmark file).
    """
    path = resolve_table_path(flag)
    specs = nb201.enumerate_specs()
    values: dict[str, dict[str, float]] = {c: {} for c in COLUMNS}
    if path is None:
        rows, origin = nb201.read_table(), f"packaged search_spaces/data/{nb201.TABLE}"
    else:
        with open(path, newline="") as f:
            rows, origin = list(csv.DictReader(f)), portable_path(path)
    for line, row in enumerate(rows, start=2):
        try:
            spec = specs[int(row["arch_index"])]
            if "arch_str" in row and row["arch_str"] != spec.id:
                raise InputError(f"index {row['arch_index']} is {row['arch_str']}, "
                                 f"not {spec.id}")
            for c in COLUMNS:
                values[c][spec.id] = float(row[c])
        except (KeyError, IndexError, ValueError) as exc:
            raise InputError(f"{origin} line {line} is not a NAS-Bench-201 row ({exc}); "
                             f"expected columns arch_index, {', '.join(COLUMNS)}") from None
    if len(values["cifar10_test_acc"]) != nb201.NUM_ARCHS:
        raise InputError(f"{origin} holds {len(values['cifar10_test_acc'])} cells, not "
                         f"{nb201.NUM_ARCHS}")
    return PublishedTable("NAS-Bench-201", "nb201", origin, values)


def published_key(dataset: DatasetRecord, benchmark: str, arch_id: str) -> str:
    """One run per (dataset, benchmark, cell): recording another metric replaces it."""
    blob = json.dumps({"dataset": dataset.key, "source": f"published:{benchmark}",
                       "arch": arch_id}, sort_keys=True).encode()
    return hashlib.blake2b(blob, digest_size=12).hexdigest()


def record_published(db: Database, dataset: DatasetRecord, arch_ids: list[str],
                     metric: str = "cifar10_test_acc", table: PublishedTable | None = None
                     ) -> list[RunRecord]:
    """Store the published accuracies of ``arch_ids`` (nb201 ids) as full-data runs of
    ``dataset`` (accuracies in [0, 1]), without training. ``metric`` picks the benchmark's
    training: ``cifar10_test_acc`` (all 50k training images; test accuracy) or
    ``cifar10_valid_acc`` (25k; validation accuracy, with that model's test accuracy).
    Each run's config names the source (``published NAS-Bench-201 cifar10``) for reports.

    Raises:
        InputError: unknown metric or architecture id.
    """
    if metric not in METRICS:
        raise InputError(f"unknown benchmark metric {metric!r}; choose from {list(METRICS)}")
    table = table or load_nb201()
    trained_on, test_column, val_column = METRICS[metric]
    space = get_space(table.space)
    shape = dict(in_channels=3, num_classes=10, im_size=32)  # the benchmark's CIFAR-10
    runs = []
    for arch_id in arch_ids:
        spec: Nb201Spec = space.parse(arch_id)
        test = table.accuracy(test_column)[spec.id] / 100
        val = table.accuracy(val_column)[spec.id] / 100 if val_column else None
        run = RunRecord(
            key=published_key(dataset, table.benchmark, spec.id), space=table.space,
            arch_id=spec.id, dataset_id=dataset.id, proxy_id=None, seed=0,
            epochs=PROTOCOL["epochs"],
            config={"train": PROTOCOL, "source": f"published {table.benchmark} {trained_on}",
                    "published": {"benchmark": table.benchmark, "metric": metric,
                                  "trained_on": trained_on, "table": table.origin,
                                  "citation": CITATION, "index": spec.index}},
            status=RunStatus.FINISHED, val_acc=val, test_acc=test, train_loss=None,
            num_params=space.count_params(spec, **shape), macs=space.count_macs(spec, **shape),
            wall_seconds=0.0, device="published", versions={})
        record_run(db, run, spec.params())
        runs.append(run)
    return runs
