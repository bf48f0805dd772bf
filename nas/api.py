"""Python API behind the CLI: data -> proxy -> search -> ground truth.

Reports: ``nas.analysis.report.build_report``; benchmarks: ``nas.bench.fidelity.run_fidelity``."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import torch
from tqdm.auto import tqdm

from nas.core.data import DataConfig, PreparedData, load_raw, prepare
from nas.core.elf import ElfConfig, ElfLoss, feature_network
from nas.core.outcome import RunStatus
from nas.core.parallel import Placement, placement, shared_data, worker_pool
from nas.core.runtime import default_device, device_name, versions
from nas.core.trainer import EpochCallback, TrainConfig, TrainResult, train
from nas.errors import InputError, UnknownNameError
from proxies import (
    ProxyRequest,
    ProxySet,
    get_proxy,
    list_proxies,
    method_of,
)
from proxies.artifacts import MADE_BY, build_path
from proxies.imported import imported_key
from search_spaces import get_space
from storage import (
    Database,
    DatasetRecord,
    ProxyRecord,
    RunRecord,
    add_proxy,
    find_artifact,
    find_proxy,
    get_run,
    list_datasets,
    list_proxy_records,
    record_run,
    sqlite_file,
    upsert_dataset,
)

FULL = "full"


def _digest(payload: dict) -> str:
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.blake2b(blob, digest_size=12).hexdigest()


def load_data(config: DataConfig) -> PreparedData:
    """Decode (cached) and split a dataset. Raises DataError with the path on failure."""
    return prepare(load_raw(config.path), config)


def register_dataset(db: Database, data: PreparedData) -> DatasetRecord:
    summary = {**data.describe(), "mean": data.mean, "std": data.std}
    return upsert_dataset(db, key=data.key, source_path=str(data.config.path),
                          content_hash=data.content_hash, config=data.config.to_dict(),
                          summary=summary)


def registered_dataset(db: Database, data: PreparedData) -> DatasetRecord:
    """The stored record of ``data``, read without writing.

    Raises:
        InputError: no command has recorded this dataset in ``db`` (so it has no runs).
    """
    for dataset in list_datasets(db):
        if dataset.key == data.key:
            return dataset
    raise InputError(f"the database holds nothing on dataset {data.key}; give the dataset "
                     "flags its runs were made with (`nas proxy list` shows its datasets)")


def stored_artifact(db: Database, dataset: DatasetRecord, kind: str, prefix: str = ""
                    ) -> ProxyRecord:
    """The newest stored artifact of ``kind`` whose hash starts with ``prefix`` (any if empty).

    Raises:
        InputError: none is stored (names the command that makes one, or `nas proxy list`).
    """
    found = find_artifact(db, dataset.id, kind, prefix)
    if found is not None:
        return found
    if prefix:
        raise InputError(f"no {kind} with hash {prefix!r} for dataset {dataset.key}; "
                         "see `nas proxy list`")
    stored = {k for k in MADE_BY if find_artifact(db, dataset.id, k) is not None}
    raise InputError(f"no {kind} stored for dataset {dataset.key}; make it with "
                     f"{', then '.join(build_path(kind, stored))} (with this command's dataset "
                     "flags)")


def imported_names(db: Database) -> list[str]:
    """Names of the sets imported into ``db`` (`nas proxy import`), oldest first."""
    return [p.method for p in list_proxy_records(db) if "imported" in p.params]


def unknown_set(name: str, imported: list[str]) -> UnknownNameError:
    """The error for a proxy name that is no method and no set in ``imported``."""
    return UnknownNameError(
        f"unknown proxy method {name!r}, nor a set imported under that name; methods: "
        f"{', '.join(list_proxies())}; imported sets: {', '.join(imported) or 'none'} "
        f"(`nas proxy import FILE --name {name}` imports one)")


def imported_set(db: Database, dataset_key: str, name: str) -> ProxyRecord:
    """The set imported under ``name``, read without writing.

    Raises:
        UnknownNameError: nothing was imported under ``name`` (lists methods and sets).
        InputError: it was imported for another dataset than ``dataset_key``.
    """
    found = find_proxy(db, imported_key(name))
    if found is None:
        raise unknown_set(name, imported_names(db))
    dataset = next(d for d in list_datasets(db) if d.id == found.dataset_id)
    if dataset.key != dataset_key:
        raise InputError(f"set {name!r} was imported for dataset {dataset.key} "
                         f"({dataset.summary['shape']}, classes {dataset.summary['classes']}); "
                         "give the dataset flags it was imported with")
    return found


def open_checked(db: Database | str, request: ProxyRequest, data_key: str) -> Database:
    """``db`` (or its URL) opened once ``request`` can be served: a name that is no method
    must be a set imported for ``data_key``, checked before anything is written (a missing
    SQLite file is not created).

    Raises:
        UnknownNameError, InputError: as ``imported_set``.
    """
    if isinstance(db, str):
        database_file = sqlite_file(db)
        if request.imported and database_file is not None and not database_file.exists():
            raise unknown_set(request.method, [])  # a new database holds no imported set
        db = Database(db)
    if request.imported:
        imported_set(db, data_key, request.method)
    return db


def build_proxy(db: Database, data: PreparedData, dataset: DatasetRecord, method: str, *,
                ipc: int, seed: int = 0, options: dict | None = None, artifact: str = ""
                ) -> ProxyRecord:
    """Build (or find, by key) a proxy set, save it beside the database and record it; a
    ``method`` that names an imported set returns that set (whatever ``ipc`` and ``seed``).

    Without ``options``, a distilled set already stored for (dataset, method, ipc, seed) is
    reused whatever options it was distilled with (the latest one), so `nas search --proxy dm`
    uses the set `nas distill --method dm` made instead of distilling again with defaults.
    A method that consumes an artifact (d2m, d3) samples from the one whose hash starts with
    ``artifact``, by default the dataset's newest.

    Raises:
        UnknownNameError, InputError: an invalid request (see ``ProxyRequest``), no
            stored artifact to sample from, or no set imported under ``method``.
    """
    request = ProxyRequest(method, ipc=ipc, seed=seed, artifact=artifact)
    if request.imported:
        return imported_set(db, dataset.key, method)
    request.check_data(data)
    spec = request.spec
    if not options and spec.consumes is None:
        stored = [p for p in list_proxy_records(db, dataset.id)
                  if (p.method, p.ipc, p.seed) == (method, ipc, seed)]
        if stored:
            return stored[-1]
    options = options or {}
    if spec.consumes and "artifact" not in options:
        options = {**options, "artifact": stored_artifact(db, dataset, spec.consumes,
                                                          artifact).artifact_hash}
    key = _digest({"dataset": dataset.key, "method": method, "ipc": ipc, "seed": seed,
                   "options": options})
    existing = find_proxy(db, key)
    if existing is not None:
        return existing
    device = default_device()
    start = time.perf_counter()
    proxy_set = spec.build(data, ipc=ipc, seed=seed, options=options,
                           artifacts_dir=db.home / "artifacts")
    seconds = time.perf_counter() - start
    path = db.home / "artifacts" / "proxies" / f"{method}-ipc{ipc}-{key}.pt"
    digest = proxy_set.save(path)
    return add_proxy(db, key=key, dataset_id=dataset.id, method=method, ipc=ipc, seed=seed,
                     params={**options, **proxy_set.info}, artifact_path=str(path),
                     artifact_hash=digest, build_seconds=seconds, device=device_name(device),
                     versions=versions())


def load_proxy_set(proxy: ProxyRecord) -> ProxySet:
    return ProxySet.load(Path(proxy.artifact_path))


@dataclass(frozen=True)
class EvaluationPlan:
    """What to train: architectures of a space on one data source with one protocol."""

    space: str
    arch_ids: list[str]
    train: TrainConfig
    seed: int = 0
    search_id: int | None = None

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise InputError(f"--seed must be >= 0, got {self.seed}")

    def check_data(self, data: PreparedData) -> None:
        """Raise InvalidArchitectureError unless every architecture runs on the data's image
        size (call before opening the database, so bad input writes nothing)."""
        space = get_space(self.space)
        for arch_id in self.arch_ids:
            space.check_input_size(space.parse(arch_id), data.im_size)


ELF_NEEDS_PROXY = "ELF supervises training on a distilled set; drop --elf for full-data runs"


def source_label(proxy: ProxyRecord | None, elf: ElfConfig | None) -> str:
    """What runs are trained on: the proxy's label or "full", with "+elf" for ELF runs."""
    return (proxy.label if proxy else FULL) + ("+elf" if elf else "")


def run_key(dataset: DatasetRecord, proxy: ProxyRecord | None, space: str, arch_id: str,
            seed: int, train_config: TrainConfig, elf: ElfConfig | None = None) -> str:
    payload = {"dataset": dataset.key, "source": proxy.key if proxy else FULL,
               "space": space, "arch": arch_id, "seed": seed, "train": train_config.protocol()}
    if elf is not None:  # ELF runs are distinct; plain runs keep their keys
        payload["elf"] = elf.to_dict()
    return _digest(payload)


class Evaluator:
    """Trains architectures on one data source (a proxy, or the full split when ``proxy`` is
    None) and records each run; holds the device-resident tensors so many calls share them.
    With ``elf``, candidates also learn real-data features (nas.core.elf); proxies only.
    ``device``: where this process trains (default: CUDA when available, else the CPU)."""

    def __init__(self, db: Database, data: PreparedData, dataset: DatasetRecord,
                 proxy: ProxyRecord | None, elf: ElfConfig | None = None,
                 device: torch.device | None = None):
        if elf is not None and proxy is None:
            raise InputError(ELF_NEEDS_PROXY)
        self.db, self.data, self.dataset, self.proxy, self.elf = db, data, dataset, proxy, elf
        self._feature_net = None
        self.device = device or default_device()
        train_set = load_proxy_set(proxy) if proxy else get_proxy(FULL).build(
            data, ipc=0, seed=0, options={}, artifacts_dir=db.home)
        self.train_set = (train_set.images, train_set.labels)
        self.eval_sets = {"val": (data.normalize(data.val_images), data.val_labels),
                          "test": (data.normalize(data.test_images), data.test_labels)}
        self.source = source_label(proxy, elf)
        method = method_of(proxy.method) if proxy else None
        self.stream = method.stream(data, ipc=proxy.ipc, seed=proxy.seed, options=proxy.params,
                                    artifacts_dir=db.home / "artifacts") if (
            method and method.stream) else None

    def run_config(self, space_name: str, arch_id: str, train_config: TrainConfig
                   ) -> TrainConfig:
        """The protocol ``arch_id`` trains with: ``train_config``, except that a proxy drawing
        fresh images (``d2m-fly``) trains the epochs that fit a fixed set's latency."""
        if self.stream is None:
            return train_config
        macs = get_space(space_name).macs(arch_id, **self.shape)
        return replace(train_config, epochs=self.stream.epochs_within_latency(
            macs, train_config.epochs))

    def _elf_training(self, spec, seed: int) -> dict:
        """Extra ``train`` arguments for ELF (none without it); trains the feature net once."""
        if self.elf is None:
            return {}
        if self._feature_net is None:
            self._feature_net = feature_network(self.data, self.elf, self.db.home / "artifacts",
                                                device=self.device)
        loss = ElfLoss(self._feature_net, spec.block_widths(), self.elf, im_size=self.data.im_size,
                       seed=seed + 1)
        return {"loss_fn": loss, "extra_modules": [loss.adapters]}

    @property
    def shape(self) -> dict:
        return dict(in_channels=self.data.channels, num_classes=self.data.num_classes,
                    im_size=self.data.im_size)

    def key(self, space_name: str, arch_id: str, train_config: TrainConfig, seed: int) -> str:
        return run_key(self.dataset, self.proxy, space_name, arch_id, seed, train_config,
                       self.elf)

    def done(self, space_name: str, arch_id: str, train_config: TrainConfig,
             seed: int) -> RunRecord | None:
        """The stored finished (or diverged) run of ``arch_id``, if there is one."""
        run = get_run(self.db, self.key(space_name, arch_id, train_config, seed))
        done = (RunStatus.FINISHED, RunStatus.DIVERGED)
        return run if run is not None and run.status in done else None

    def record(self, space_name: str, arch_id: str, train_config: TrainConfig, seed: int, *,
               status: str, epochs: int, accuracies: dict, train_loss: float | None,
               wall_seconds: float, device: str, compiled: bool = False, bf16: bool = False,
               search_id: int | None = None, curve: dict | None = None,
               fresh_seconds: float = 0.0, compile_error: str = "") -> RunRecord:
        """Store (commit) one run of ``arch_id`` on this evaluator's data source;
        ``compiled``: whether its training step ran under torch.compile, ``bf16``: under bf16
        autocast; ``fresh_seconds``: of ``wall_seconds``, spent drawing fresh images;
        ``compile_error``: why it trained eagerly though asked to compile."""
        space = get_space(space_name)
        spec = space.parse(arch_id)
        run = RunRecord(
            key=self.key(space_name, arch_id, train_config, seed), space=space_name,
            arch_id=arch_id, dataset_id=self.dataset.id,
            proxy_id=self.proxy.id if self.proxy else None, seed=seed, epochs=epochs,
            config={"train": train_config.to_dict(), "source": self.source,
                    "elf": self.elf.to_dict() if self.elf else None, "compiled": compiled,
                    "bf16": bf16, **({"fresh_seconds": fresh_seconds} if self.stream else {}),
                    **({"compile_error": compile_error} if compile_error else {})},
            status=status, val_acc=accuracies.get("val"), test_acc=accuracies.get("test"),
            train_loss=train_loss, num_params=space.count_params(spec, **self.shape),
            macs=space.count_macs(spec, **self.shape), wall_seconds=wall_seconds,
            device=device, versions=versions(), search_id=search_id, curve=curve)
        record_run(self.db, run, spec.params())
        return run

    def evaluate(self, space_name: str, arch_id: str, train_config: TrainConfig, seed: int, *,
                 search_id: int | None = None, on_epoch: EpochCallback | None = None
                 ) -> RunRecord:
        """Return the finished (or diverged) run of ``arch_id``, training it only if no such
        run is stored yet; the run is committed before this returns. When ``on_epoch``
        raises (a pruner stopping the run), the run is committed with status "pruned", the
        epoch and validation accuracy it stopped at, and the exception is re-raised."""
        done = self.done(space_name, arch_id, train_config, seed)
        if done is not None:
            return done
        space = get_space(space_name)
        spec = space.parse(arch_id)
        record = partial(self.record, space_name, arch_id, train_config, seed,
                         device=device_name(self.device), search_id=search_id)
        stopped: list[tuple[int, float]] = []  # (epoch, val acc) at which on_epoch raised

        def watched(epoch: int, val_acc: float) -> None:
            try:
                on_epoch(epoch, val_acc)
            except BaseException:
                stopped.append((epoch, val_acc))
                raise

        start = time.perf_counter()
        try:
            result = train(partial(space.build, spec, **self.shape), self.train_set,
                           self.run_config(space_name, arch_id, train_config), seed=seed,
                           eval_sets=self.eval_sets, device=self.device,
                           on_epoch=watched if on_epoch else None, fresh_set=self.stream,
                           **self._elf_training(spec, seed))
        except BaseException:
            if stopped:
                epoch, val_acc = stopped[0]
                record(status=RunStatus.PRUNED, epochs=epoch, accuracies={"val": val_acc},
                       train_loss=None, wall_seconds=time.perf_counter() - start)
            raise
        return self.record_result(space_name, arch_id, train_config, seed, result,
                                  device=device_name(self.device), search_id=search_id)

    def record_result(self, space_name: str, arch_id: str, train_config: TrainConfig,
                      seed: int, result: TrainResult, *, device: str,
                      search_id: int | None = None) -> RunRecord:
        """Store (commit) the finished or diverged ``result`` of training ``arch_id``."""
        return self.record(space_name, arch_id, train_config, seed, status=result.status,
                           epochs=result.epochs_done, accuracies=result.accuracies,
                           train_loss=result.train_loss, wall_seconds=result.wall_seconds,
                           device=device, compiled=result.compiled, bf16=result.bf16,
                           search_id=search_id, curve=result.curve,
                           fresh_seconds=result.fresh_seconds,
                           compile_error=result.compile_error)

    def train_in_workers(self, plan: EvaluationPlan, pending: list[str], place: Placement,
                         on_run: Callable[[RunRecord], None] = lambda run: None,
                         on_error: Callable[[Exception], None] = lambda error: None
                         ) -> set[str]:
        """Train ``pending`` (architectures of ``plan`` without a stored run) in
        ``place.workers`` processes on ``place.device``, recording each run as it ends.
        Plain runs only (no ELF). A run that raises in a worker is not recorded: ``on_error``
        receives the error and the caller trains that architecture again (``evaluate``).
        Returns the architectures trained and recorded here (none when there is nothing to
        share)."""
        if len(pending) < 2 or place.workers < 2 or self.elf is not None:
            return set()
        shared = {"train_set": self.train_set, "eval_sets": self.eval_sets,
                  "shape": self.shape, "stream": self.stream, "device": str(place.device)}
        jobs = longest_first([(plan.space, arch_id, self.run_config(plan.space, arch_id,
                                                                    plan.train), plan.seed)
                              for arch_id in pending], self.shape)
        trained = set()
        with worker_pool(min(place.workers, len(pending)), threads_per_worker=place.threads,
                         shared=shared, device=place.device) as pool:
            runs = pool.imap_unordered(train_on_shared, jobs)
            for _ in jobs:
                try:
                    arch_id, result, device = next(runs)
                except Exception as error:  # the worker's exception, re-raised here
                    on_error(error)
                    continue
                on_run(self.record_result(plan.space, arch_id, plan.train, plan.seed, result,
                                          device=device, search_id=plan.search_id))
                trained.add(arch_id)
        return trained


TrainJob = tuple[str, str, TrainConfig, int]  # (space, architecture id, protocol, seed)


def longest_first(jobs: list[TrainJob], shape: dict) -> list[TrainJob]:
    """``jobs`` by descending forward MACs, so that a pool's last tasks are short ones and
    no worker idles while another finishes a long run (longest processing time first)."""
    return sorted(jobs, key=lambda job: get_space(job[0]).macs(job[1], **shape), reverse=True)


def train_on_shared(job: TrainJob) -> tuple[str, TrainResult, str]:
    """Worker task of ``Evaluator.train_in_workers``: one architecture on the shared data,
    on the shared ``device`` (default the CPU)."""
    space_name, arch_id, config, seed = job
    data = shared_data()
    device = torch.device(data.get("device", "cpu"))
    space = get_space(space_name)
    try:
        result = train(partial(space.build, space.parse(arch_id), **data["shape"]),
                       data["train_set"], config, seed=seed, eval_sets=data["eval_sets"],
                       fresh_set=data.get("stream"), device=device)
    except Exception as error:  # name the architecture: the pool re-raises only the message
        raise RuntimeError(f"a worker on {device} failed to train {arch_id} "
                           f"({type(error).__name__}: {error})") from error
    return arch_id, result, device_name(device)


def evaluate_architectures(db: Database, data: PreparedData, dataset: DatasetRecord,
                           proxy: ProxyRecord | None, plan: EvaluationPlan, *,
                           progress: bool = True, elf: ElfConfig | None = None,
                           workers: int = 1, device: torch.device | None = None
                           ) -> list[RunRecord]:
    """Train every architecture of ``plan``, skipping finished ones; each run is committed as
    soon as it ends, so an interrupted call loses only the runs in flight. With ``workers``
    > 1, plain runs train in that many processes on ``device`` (default: CUDA when available,
    else the CPU; ``nas.core.parallel.placement``); a run that fails in a worker is reported
    and trained again here, so every architecture is trained once and recorded once."""
    plan.check_data(data)  # fail before any training, not halfway through
    evaluator = Evaluator(db, data, dataset, proxy, elf, device)

    pending = [a for a in plan.arch_ids
               if evaluator.done(plan.space, a, plan.train, plan.seed) is None]
    with tqdm(total=len(plan.arch_ids), initial=len(plan.arch_ids) - len(pending),
              desc=f"train on {evaluator.source}", unit="arch", disable=not progress) as bar:
        def show(run: RunRecord) -> None:
            bar.update()
            bar.set_postfix_str(f"{run.arch_id} {run.status} val={run.val_acc}")

        def failed(error: Exception) -> None:
            bar.write(f"{error}; training it again in this process", file=sys.stderr)

        trained = evaluator.train_in_workers(plan, pending, placement(evaluator.device, workers),
                                             on_run=show, on_error=failed)
        fresh = set(pending) - trained
        results = []
        for arch_id in plan.arch_ids:
            results.append(evaluator.evaluate(plan.space, arch_id, plan.train, plan.seed,
                                              search_id=plan.search_id))
            if arch_id in fresh:
                show(results[-1])
    return results
