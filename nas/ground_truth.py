"""Export and import ground-truth (full-data) runs as CSV or JSON.

A table measured on a big machine can be brought to a small one: rows are matched by the
dataset key (source content + preparation config), the architecture, the training protocol
and the seed, and become ordinary cached full-data runs there, so ``nas ground-truth`` and
``nas report`` reuse them instead of training.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, fields
from pathlib import Path

from nas.api import run_key
from nas.core.outcome import RunStatus
from nas.core.trainer import TrainConfig
from nas.errors import InputError
from search_spaces import get_space
from storage import Database, DatasetRecord, RunRecord, get_run, list_runs, record_run

FORMAT_VERSION = 1
COLUMNS = ("dataset_key", "space", "arch_id", "seed", "train", "status", "epochs", "val_acc",
           "test_acc", "train_loss", "num_params", "macs", "wall_seconds", "device",
           "versions")
LEGACY_COLUMNS = {"flops": "macs"}  # exports before the rename held MACs under "flops"
_JSON_COLUMNS = ("train", "versions")
_FLOAT_COLUMNS = ("val_acc", "test_acc", "train_loss", "wall_seconds")
_INT_COLUMNS = ("seed", "epochs", "num_params", "macs")


@dataclass(frozen=True)
class ImportSummary:
    imported: int  # new full-data runs written
    present: int  # already stored here (kept as they are)
    other_dataset: int  # rows of another dataset key (skipped)


def _row(dataset: DatasetRecord, run: RunRecord) -> dict:
    return {"dataset_key": dataset.key, "space": run.space, "arch_id": run.arch_id,
            "seed": run.seed, "train": run.config["train"], "status": run.status,
            "epochs": run.epochs, "val_acc": run.val_acc, "test_acc": run.test_acc,
            "train_loss": run.train_loss, "num_params": run.num_params, "macs": run.macs,
            "wall_seconds": run.wall_seconds, "device": run.device, "versions": run.versions}


def check_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InputError(f"ground-truth file {path} must end in .csv or .json")
    return suffix[1:]


def export_ground_truth(db: Database, dataset: DatasetRecord, path: Path) -> int:
    """Write every full-data run of ``dataset`` to ``path`` (.csv or .json); returns the
    number of rows. JSON holds {"format_version", "dataset": {key, config}, "runs": [...]};
    CSV holds one row per run with ``train`` and ``versions`` as JSON strings."""
    kind = check_format(path)
    rows = [_row(dataset, r) for r in list_runs(db, dataset_id=dataset.id, full_data=True)
            if r.status in (RunStatus.FINISHED, RunStatus.DIVERGED)]  # a pruned run is no truth
    if not rows:
        raise InputError(f"no ground-truth runs on dataset {dataset.key} to export; run "
                         "`nas ground-truth` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "json":
        blob = {"format_version": FORMAT_VERSION,
                "dataset": {"key": dataset.key, "config": dataset.config}, "runs": rows}
        path.write_text(json.dumps(blob, indent=1))
    else:
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: json.dumps(v) if k in _JSON_COLUMNS else v
                                 for k, v in row.items()})
    return len(rows)


def _check_columns(names: list[str] | None, where: str) -> None:
    """Raise InputError naming the missing and the unexpected columns, if any."""
    given = {LEGACY_COLUMNS.get(n, n) for n in names or ()}
    missing = [c for c in COLUMNS if c not in given]
    extra = sorted(given - set(COLUMNS))
    problems = ([f"missing column(s) {missing}"] if missing else []) + (
        [f"unexpected column(s) {extra}"] if extra else [])
    if problems:
        raise InputError(f"{where}: {'; '.join(problems)}; write the file with "
                         "`nas ground-truth --export`")


def _read(path: Path) -> list[dict]:
    kind = check_format(path)
    if not path.is_file():
        raise InputError(f"ground-truth file {path} does not exist (or is not a file)")
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read ground-truth file {path}: {exc.strerror}") from None
    try:
        if kind == "json":
            rows = json.loads(text)["runs"]
            for i, row in enumerate(rows, start=1):
                _check_columns(list(row), f"{path} run {i}")
        else:
            reader = csv.DictReader(text.splitlines())
            _check_columns(reader.fieldnames, str(path))
            rows = []
            for raw in reader:
                row: dict = dict(raw)
                for k in _JSON_COLUMNS:
                    row[k] = json.loads(row[k])
                rows.append(row)
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not a ground-truth export ({exc!r}); write one with "
                         "`nas ground-truth --export`") from None
    if not rows:
        raise InputError(f"{path} holds no ground-truth runs")
    return [_clean(row, path, i) for i, row in enumerate(rows, start=1)]


def _clean(row: dict, path: Path, line: int) -> dict:
    row = {LEGACY_COLUMNS.get(k, k): v for k, v in row.items()}
    missing = [c for c in COLUMNS if c not in row]
    if missing:
        raise InputError(f"{path} row {line} lacks {missing}; expected columns {list(COLUMNS)}")
    out = {c: row[c] for c in COLUMNS}
    try:
        for c in _FLOAT_COLUMNS:
            out[c] = None if out[c] in (None, "") else float(out[c])
        for c in _INT_COLUMNS:
            out[c] = int(out[c])
        known = {f.name for f in fields(TrainConfig)}
        unknown = set(out["train"]) - known
        if unknown:
            raise InputError(f"unknown training options {sorted(unknown)}")
        out["train_config"] = TrainConfig(**out["train"])
        get_space(out["space"]).parse(out["arch_id"])
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path} row {line}: {str(exc).splitlines()[0]}") from None
    if out["status"] not in (RunStatus.FINISHED, RunStatus.DIVERGED):
        raise InputError(f"{path} row {line}: status {out['status']!r} is not finished/diverged")
    return out


@dataclass(frozen=True)
class GroundTruthFile:
    """A validated ground-truth file: the rows of one dataset, and how many were of others."""

    path: Path
    rows: list[dict]
    other_dataset: int


def read_ground_truth(path: Path, dataset_key: str) -> GroundTruthFile:
    """Read and validate the whole file (no database needed, so a bad file writes nothing).

    Raises:
        InputError: unreadable or malformed file, missing or unexpected columns (named), no
            runs, or no row of ``dataset_key`` (the message names the keys found).
    """
    rows = _read(path)
    mine = [r for r in rows if r["dataset_key"] == dataset_key]
    if not mine:
        keys = sorted({r["dataset_key"] for r in rows})
        raise InputError(f"{path} holds ground truth of dataset(s) {keys}, not of {dataset_key}; "
                         "prepare the data with the same flags (--resize, --classes, "
                         "--per-class, ...) as where it was measured")
    return GroundTruthFile(path, mine, len(rows) - len(mine))


def import_ground_truth(db: Database, dataset: DatasetRecord, source: Path | GroundTruthFile
                        ) -> ImportSummary:
    """Store the rows of ``source`` (a path, or a file ``read_ground_truth`` validated) that
    belong to ``dataset`` as full-data runs, keyed exactly as ``nas ground-truth`` keys its own
    (so they are reused, never retrained). The whole file is validated before anything is
    written; runs already stored here are kept.

    Raises:
        InputError: see ``read_ground_truth`` (the database is unchanged).
    """
    table = source if isinstance(source, GroundTruthFile) else read_ground_truth(source,
                                                                                 dataset.key)
    path = table.path
    imported = present = 0
    for r in table.rows:
        key = run_key(dataset, None, r["space"], r["arch_id"], r["seed"], r["train_config"])
        if get_run(db, key) is not None:
            present += 1
            continue
        run = RunRecord(
            key=key, space=r["space"], arch_id=r["arch_id"], dataset_id=dataset.id,
            proxy_id=None, seed=r["seed"], epochs=r["epochs"],
            config={"train": r["train_config"].to_dict(), "source": "full",
                    "imported_from": path.name},
            status=r["status"], val_acc=r["val_acc"], test_acc=r["test_acc"],
            train_loss=r["train_loss"], num_params=r["num_params"], macs=r["macs"],
            wall_seconds=r["wall_seconds"], device=r["device"], versions=r["versions"])
        record_run(db, run, get_space(r["space"]).parse(r["arch_id"]).params())
        imported += 1
    return ImportSummary(imported, present, table.other_dataset)
