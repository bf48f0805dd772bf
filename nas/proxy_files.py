"""Proxy sets as files: import a set made elsewhere as a named proxy, export any stored one.

    imported = import_set(db, data, Path("res_DM_CIFAR10_ConvNet_10ipc.pt"),
                          ImportConfig("dm-authors", values="cifar10-standardized"))
    export_set(db, "dm-authors", Path("dm-authors.npz"))

Layouts: ``proxies.set_files``; checks and value conventions: ``proxies.imported``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from nas import api
from nas.core.data import PreparedData
from nas.core.runtime import versions
from nas.errors import InputError
from proxies.imported import DC_CIFAR10, ImportConfig, conform, file_values, imported_key
from proxies.set_files import FORMATS, format_of_path, read_set, write_set
from storage import (
    Database,
    DatasetRecord,
    ProxyRecord,
    add_proxy,
    find_proxy,
    list_datasets,
    list_proxy_records,
)

HASH_PREFIX_MIN = 4  # shortest hash prefix that names a stored set


@dataclass(frozen=True)
class Imported:
    """An imported set's row, what was adapted on the way, and whether it is new."""

    proxy: ProxyRecord
    notices: list[str]
    fresh: bool


def _same_import(stored: dict, new: dict) -> bool:
    """Whether two provenance records describe the same import (wherever the file lay)."""
    return {k: v for k, v in stored.items() if k != "source"} == \
        {k: v for k, v in new.items() if k != "source"}


def import_set(db: Database | str | None, data: PreparedData, path: Path, cfg: ImportConfig
               ) -> Imported:
    """Read ``path``, check it against ``data`` and store it as the proxy ``cfg.name``.

    ``db``: a Database, or its URL (None: the default), opened only once the file passed
    every check; importing the same file under the same name again returns the stored row.

    Raises:
        DataError: the file is missing, unreadable, or in no known layout.
        InputError: the set does not fit ``data`` (see ``proxies.imported.conform``), or
            ``cfg.name`` already holds another set.
    """
    start = time.perf_counter()
    proxy_set, notices = conform(read_set(path, entry=cfg.entry), data, cfg, Path(path))
    db = db if isinstance(db, Database) else Database(db)
    key = imported_key(cfg.name)
    existing = find_proxy(db, key)
    if existing is not None:
        old = existing.params["imported"]
        if _same_import(old, proxy_set.info["imported"]):
            api.imported_set(db, data.key, cfg.name)  # same dataset, or refuse
            return Imported(existing, notices, fresh=False)
        raise InputError(f"--name {cfg.name!r} already holds the set imported from "
                         f"{old['source']} ({old['format']}); choose another name")
    dataset = api.register_dataset(db, data)
    target = db.home / "artifacts" / "proxies" / f"imported-{cfg.name}-{key}.pt"
    digest = proxy_set.save(target)
    record = add_proxy(db, key=key, dataset_id=dataset.id, method=cfg.name,
                       ipc=round(len(proxy_set.labels) / data.num_classes), seed=0,
                       params=proxy_set.info, artifact_path=str(target),
                       artifact_hash=digest, build_seconds=time.perf_counter() - start,
                       device="cpu", versions=versions())
    return Imported(record, notices, fresh=True)


def stored_set(db: Database, ref: str) -> tuple[ProxyRecord, DatasetRecord]:
    """The stored set ``ref`` names: an imported set's name, a label such as "dm-ipc10"
    that one set carries, or a prefix of a set's key or content hash (`nas proxy list`).

    Raises:
        InputError: no stored set, or several, answer to ``ref``.
    """
    sets = [p for p in list_proxy_records(db) if p.ipc is not None and p.artifact_path]
    for match in (lambda p: p.key == imported_key(ref) and "imported" in p.params,
                  lambda p: p.label == ref,
                  lambda p: len(ref) >= HASH_PREFIX_MIN and (
                      p.key.startswith(ref) or (p.artifact_hash or "").startswith(ref))):
        found = [p for p in sets if match(p)]
        if len(found) > 1:
            raise InputError(f"{len(found)} stored sets answer to {ref!r}; name one by its "
                             f"hash: {', '.join((p.artifact_hash or '')[:12] for p in found)}")
        if found:
            dataset = next(d for d in list_datasets(db) if d.id == found[0].dataset_id)
            return found[0], dataset
    raise InputError(f"no stored set {ref!r}; give an imported set's name, a label or a hash "
                     "from `nas proxy list`")


def export_set(db: Database, ref: str, path: Path, *, fmt: str | None = None,
               values: str = "standardized") -> list[Path]:
    """Write the stored set ``ref`` (see ``stored_set``) to ``path`` in layout ``fmt``
    (default: from the path, ``proxies.set_files.format_of_path``) with pixel ``values``
    (an image folder always holds uint8). Returns the paths written.

    Raises:
        InputError: ``ref`` names no single set, ``path`` exists, or an unknown layout.
    """
    path = Path(path).expanduser()
    fmt = fmt or format_of_path(path)
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: choose from {list(FORMATS)}")
    if path.exists():
        raise InputError(f"{path} exists; remove it or name another file")
    proxy, dataset = stored_set(db, ref)
    proxy_set = api.load_proxy_set(proxy)
    summary = dataset.summary
    values = "uint8" if fmt == "image-folder" else values
    images = file_values(proxy_set.images, values, summary["mean"], summary["std"])
    mean, std = DC_CIFAR10 if values == "cifar10-standardized" else (summary["mean"],
                                                                      summary["std"])
    return write_set(path, fmt, images, proxy_set.labels,
                     class_names=tuple(summary["classes"]),
                     meta={"values": values, "mean": list(mean), "std": list(std)})
