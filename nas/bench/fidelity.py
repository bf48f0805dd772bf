"""Fidelity benchmark presets: the whole pipeline (proxies -> proxy training -> zero-cost
scores -> ground truth -> report) at a named scale, each preset one row of data."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from nas import api
from nas.analysis.render import check_out_dir, write_report
from nas.analysis.report import ReportConfig, build_report
from nas.analysis.report_data import Report
from nas.analysis.zero_cost import ZERO_COST_METHODS, ZeroCostConfig, score_architectures
from nas.bench import named
from nas.core.data import DataConfig, PreparedData, resolve_data_path
from nas.core.elf import ElfConfig
from nas.core.selection import select_architectures
from nas.core.trainer import TrainConfig
from nas.distillers import distiller_of
from nas.errors import InputError, UserError
from nas.published import load_nb201, record_published
from proxies import ProxyRequest, get_proxy, list_proxies, method_of
from search_spaces import get_space
from storage import Database, DatasetRecord, find_artifact

DATA_PROXIES = ("random", "dm", "d2m")  # the comparison of the D2M paper's NAS table
GROUND_TRUTHS = ("train", "nb201")


@dataclass(frozen=True)
class FidelityPreset:
    """One benchmark scale. Sizes are per class; epochs follow TrainConfig's protocol."""

    description: str
    resize: int | None  # image side; None = native (32 for CIFAR-10)
    per_class: int | None  # train images per class before the 10% val split; None = all
    test_per_class: int | None  # None = all
    sample: int  # architectures, stratified over convnet720's factor levels
    ipc: int  # images per class of every data proxy
    proxy_epochs: int
    truth_epochs: int
    classes: tuple[str, ...] | None = None  # None = every class of the dataset
    where: tuple[str, ...] = ()  # factor filters before sampling, e.g. ("width=32,64",)
    proxies: tuple[str, ...] = DATA_PROXIES  # those not registered are skipped with a note
    zero_cost: tuple[str, ...] = ZERO_COST_METHODS
    proxy_options: dict[str, dict] = field(default_factory=dict)  # method -> build options
    # method -> distillation options, used when the dataset has no artifact of that method
    # yet (d2m refines a stored pre-trained generator: `nas pretrain` first; d3 from scratch)
    distill: dict[str, dict] = field(default_factory=dict)
    elf: tuple[str, ...] = ()  # proxies also trained with ELF supervision (rows "<proxy>+elf")
    elf_options: dict = field(default_factory=dict)  # ElfConfig fields
    zero_cost_batches: int = 3
    seed: int = 0  # architecture sample, proxy builds, training, zero-cost init
    space: str = "convnet720"
    # "train": truth_epochs on the full training split; "nb201": NAS-Bench-201's published
    # accuracies of the sampled cells (nas.published.record_published; no training here)
    ground_truth: str = "train"
    published_metric: str = "cifar10_test_acc"  # with ground_truth="nb201"
    proxy_train: dict = field(default_factory=dict)  # TrainConfig fields of proxy training
    # a second proxy seed (seed + 1: another proxy set, another training seed) on the first
    # N architectures of the sample; 0 = one seed only
    second_seed_sample: int = 0
    second_seed_proxies: tuple[str, ...] | None = None  # None: every proxy gets the second seed
    top_fraction: float = 0.10  # the report's top-fraction overlap (the NAS literature's 10%)
    # leave out the sampled architectures whose forward pass costs more multiply-adds per
    # image (at the data's size) than this; None = keep every one
    max_macs: float | None = None

    def __post_init__(self) -> None:
        """Validate a preset (and the overrides replacing its fields) before any work.

        Raises:
            InputError: a size, epoch count or seed out of range, an unknown zero-cost method,
                or a build option its proxy does not take (``--option``).
        """
        for name in ("sample", "ipc", "proxy_epochs", "truth_epochs", "zero_cost_batches"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, "
                                 f"got {getattr(self, name)}")
        for name in ("resize", "per_class", "test_per_class"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.seed < 0:
            raise InputError(f"--seed must be >= 0, got {self.seed}")
        if self.max_macs is not None and self.max_macs <= 0:
            raise InputError(f"--max-macs must be positive, got {self.max_macs}")
        if self.ground_truth not in GROUND_TRUTHS:
            raise InputError(f"ground_truth {self.ground_truth!r} is not one of "
                             f"{list(GROUND_TRUTHS)}")
        if self.ground_truth == "nb201" and self.space != "nb201":
            raise InputError("published NAS-Bench-201 ground truth needs space='nb201'")
        _build("proxy training options", TrainConfig, {"epochs": self.proxy_epochs,
                                                       **self.proxy_train})
        unknown = sorted(set(self.zero_cost) - set(ZERO_COST_METHODS))
        if unknown:
            raise InputError(f"unknown zero-cost method(s) {unknown}; choose from "
                             f"{list(ZERO_COST_METHODS)}")
        registered = list_proxies()
        for method, options in self.proxy_options.items():
            if method not in registered:
                raise InputError(f"--option names unknown proxy {method!r}; registered: "
                                 f"{', '.join(registered)}")
            get_proxy(method).check_options(options)
        _build("elf_options", ElfConfig, self.elf_options)
        for method, options in self.distill.items():
            kind = get_proxy(method).consumes if method in registered else None
            if kind is None:
                raise InputError(f"distill options name {method!r}, which samples from no "
                                 "distilled artifact")
            _build(f"{method} distill options", distiller_of(kind).config, options)

    def distill_options(self, method: str) -> dict:
        """The distillation options of the artifact proxy ``method`` consumes: those of any
        proxy consuming the same artifact (``distill.d2m`` serves ``d2m-fly`` too)."""
        kind = method_of(method).consumes
        return next((options for name, options in self.distill.items()
                     if kind is not None and method_of(name).consumes == kind), {})

    def proxy_train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.proxy_epochs, **self.proxy_train)

    def check_data(self, data: PreparedData) -> list[str]:
        """The sampled architectures within ``max_macs``, once each runs on the data's images
        and each data proxy that picks real images finds ``ipc`` of them per class (before the
        database)."""
        space = get_space(self.space)
        archs = select_architectures(space, sample=self.sample, where=list(self.where),
                                     seed=self.seed)
        api.EvaluationPlan(self.space, archs, self.proxy_train_config(),
                           seed=self.seed).check_data(data)
        if self.max_macs is not None:
            shape = dict(in_channels=data.channels, num_classes=data.num_classes,
                         im_size=data.im_size)
            archs = [a for a in archs if space.macs(a, **shape) <= self.max_macs]
            if not archs:
                raise InputError(f"no sampled architecture costs at most --max-macs "
                                 f"{self.max_macs:g} multiply-adds per image; raise it")
        for method in self.proxies:
            if method in list_proxies() and get_proxy(method).uses_ipc:
                ProxyRequest(method, ipc=self.ipc, seed=self.seed).check_data(data)
        return archs

    def data_config(self, path: str) -> DataConfig:
        return DataConfig(path=path, resize=self.resize, classes=self.classes,
                          per_class=self.per_class, test_per_class=self.test_per_class)


def _build(what: str, config: type, options: dict) -> None:
    """Build ``config(**options)`` to validate it; an unknown field is a one-line InputError."""
    try:
        config(**options)
    except TypeError as exc:
        raise InputError(f"bad {what} {options}: {exc}") from None


def get_preset(name: str) -> FidelityPreset:
    """The preset ``name`` of ``experiments/presets.toml`` (``extends`` first copies the
    fields of the preset it names; "native" and "all" stand for None).

    Raises:
        UnknownNameError: an unknown name (one line listing the valid ones).
    """
    return FidelityPreset(**_preset_fields(name))


def _preset_fields(name: str) -> dict:
    table = named.entry("presets", name)
    base = table.pop("extends", None)
    out = {**(_preset_fields(base) if base else {}), **table}
    tuples = {f.name for f in dataclasses.fields(FidelityPreset) if "tuple" in str(f.type)}
    for key, value in out.items():
        if value in ("native", "all"):
            out[key] = None
        elif key in tuples and isinstance(value, list):
            out[key] = tuple(value)
    return out


PRESETS: dict[str, FidelityPreset] = {n: get_preset(n) for n in named.names("presets")}


def available_proxies(preset: FidelityPreset, note: Callable[[str], None],
                      imported: Collection[str] = ()) -> list[str]:
    """The preset's data proxies that are registered here or ``imported`` (names of sets in
    the database); ``note`` is told of the others."""
    registered = list_proxies()
    chosen = []
    for method in preset.proxies:
        if method in imported or (method in registered and get_proxy(method).uses_ipc):
            chosen.append(method)
        else:
            note(f"skipping proxy {method!r}: not registered here nor imported (registered: "
                 f"{', '.join(registered)}; imported: {', '.join(imported) or 'none'})")
    return chosen


def ensure_distilled(db: Database, data: PreparedData, dataset: DatasetRecord, method: str,
                     options: dict, *, seed: int, progress: bool = True) -> None:
    """Distil the artifact proxy ``method`` consumes (d2m, d3) with ``options`` unless the
    dataset already has one; the proxy then samples its sets from the newest artifact.

    Raises:
        InputError: the distiller refines an artifact the dataset lacks (d2m without a
            pre-trained generator; names the command that makes one).
    """
    kind = method_of(method).consumes
    if kind is None or find_artifact(db, dataset.id, kind) is not None:
        return
    distiller = distiller_of(kind)
    if distiller.refines:
        api.stored_artifact(db, dataset, distiller.refines)  # raises, naming the command
    distiller.distil(db, data, dataset, distiller.config(**options), seed=seed,
                     progress=progress)


def run_fidelity(db: Database | str | None, preset: FidelityPreset, out_dir: Path | None = None,
                 *, data_path: str | None = None, name: str = "custom", progress: bool = True,
                 note: Callable[[str], None] = print, workers: int = 1
                 ) -> tuple[Report, dict[str, Path]]:
    """Run the whole benchmark and write its report into ``out_dir`` (default: report-NAME/
    beside the database).

    Every step is cached in ``db`` (proxies by key, runs by dataset + architecture + protocol
    + seed, zero-cost scores by config), so an interrupted run resumes where it stopped and
    a finished one re-renders its report without training.

    Args:
        db: a Database, or its URL (None: the default), opened only once the data has loaded,
            so a bad dataset path leaves no database behind.
        workers: on a CPU, architectures trained at once in one-thread processes.

    Returns:
        (the Report, written paths by name).
    """
    if out_dir is not None:
        check_out_dir(out_dir)
    data = api.load_data(preset.data_config(str(resolve_data_path(data_path))))
    archs = preset.check_data(data)  # bad input fails before the database is opened
    db = db if isinstance(db, Database) else Database(db)
    dataset = api.register_dataset(db, data)
    note(f"{len(archs)} architectures of {preset.space}, dataset {dataset.key} "
         f"({data.describe()})")
    proxy_plan = api.EvaluationPlan(preset.space, archs, preset.proxy_train_config(),
                                    seed=preset.seed)
    second = preset.second_seed_sample and api.EvaluationPlan(
        preset.space, archs[:preset.second_seed_sample], preset.proxy_train_config(),
        seed=preset.seed + 1)
    built, reported = {}, []  # reported: the proxies of this run (not others in the database)
    for method in available_proxies(preset, note, api.imported_names(db)):
        try:
            ensure_distilled(db, data, dataset, method, preset.distill_options(method),
                             seed=preset.seed, progress=progress)
            built[method] = api.build_proxy(db, data, dataset, method, ipc=preset.ipc,
                                            seed=preset.seed,
                                            options=preset.proxy_options.get(method, {}))
        except UserError as exc:  # e.g. d2m without a pre-trained generator on this dataset
            note(f"skipping proxy {method!r}: {str(exc).splitlines()[0]}")
            continue
        reported.append(built[method].id)
        if built[method].ipc != preset.ipc:  # an imported set keeps its file's IPC
            note(f"proxy {method!r} is the imported set {built[method].label} (the preset's "
                 f"IPC is {preset.ipc})")
        api.evaluate_architectures(db, data, dataset, built[method], proxy_plan,
                                   progress=progress, workers=workers)
        if second and (preset.second_seed_proxies is None
                       or method in preset.second_seed_proxies):  # another set, another seed
            again = api.build_proxy(db, data, dataset, method, ipc=preset.ipc,
                                    seed=preset.seed + 1,
                                    options=preset.proxy_options.get(method, {}))
            reported.append(again.id)
            api.evaluate_architectures(db, data, dataset, again, second, progress=progress,
                                       workers=workers)
    for method in preset.elf:
        if method in built:
            api.evaluate_architectures(db, data, dataset, built[method], proxy_plan,
                                       progress=progress, elf=ElfConfig(**preset.elf_options))
    score_architectures(db, data, dataset, preset.space, archs, list(preset.zero_cost),
                        ZeroCostConfig(batches=preset.zero_cost_batches, seed=preset.seed),
                        progress=progress)
    if preset.ground_truth == "nb201":  # published: recorded, not trained
        record_published(db, dataset, archs, preset.published_metric, load_nb201())
    else:
        truth_plan = api.EvaluationPlan(preset.space, archs,
                                        TrainConfig(epochs=preset.truth_epochs), seed=preset.seed)
        api.evaluate_architectures(db, data, dataset, None, truth_plan, progress=progress,
                                   workers=workers)
    report = build_report(db, dataset, ReportConfig(
        space=preset.space, arch_ids=tuple(archs), proxy_ids=tuple(reported),
        elf_proxy_ids=tuple(built[m].id for m in preset.elf if m in built),
        proxy_epochs=preset.proxy_epochs,
        truth_epochs=None if preset.ground_truth == "nb201" else preset.truth_epochs,
        title=f"Proxy fidelity benchmark ({name})", top_fraction=preset.top_fraction,
        extra={"name": name, **dataclasses.asdict(preset)}))
    return report, write_report(report, out_dir or db.home / f"report-{name}")
