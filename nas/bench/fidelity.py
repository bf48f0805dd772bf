"""Fidelity benchmark presets: the whole pipeline (proxies -> proxy training -> zero-cost
scores -> ground truth -> report) at a named scale, each preset one row of data."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nas import api
from nas.analysis.render import write_report
from nas.analysis.report import ReportConfig, build_report
from nas.analysis.zero_cost import ZERO_COST_METHODS, ZeroCostConfig, score_architectures
from nas.data import DataConfig, resolve_data_path
from nas.selection import select_architectures
from nas.trainer import TrainConfig
from proxies import get_proxy, list_proxies
from search_spaces import get_space
from storage import Database

DATA_PROXIES = ("random", "dm", "d2m")  # the comparison of the D2M paper's NAS table


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
    zero_cost_batches: int = 3
    seed: int = 0  # architecture sample, proxy builds, training, zero-cost init
    space: str = "convnet720"

    def data_config(self, path: str) -> DataConfig:
        return DataConfig(path=path, resize=self.resize, classes=self.classes,
                          per_class=self.per_class, test_per_class=self.test_per_class)


PRESETS: dict[str, FidelityPreset] = {
    # CI smoke run on a handful of small images: proves the pipeline, not the proxies.
    "tiny": FidelityPreset("CI smoke test (< 3 min on 2 cores)", resize=16, per_class=20,
                           test_per_class=10, sample=6, ipc=3, proxy_epochs=2, truth_epochs=2,
                           proxies=("random",), zero_cost_batches=1),
    # Reference benchmark for a 2-core CPU at 16x16 (REFERENCE.md: ~4x faster than 32x32).
    # Estimated from the sample's FLOPs at ~1.2e10 multiply-accumulates/s (1-thread rate
    # measured here x ~1.7 for 2 threads): ~12 min of proxy training per proxy, ~2.9 h of
    # ground truth (computed once, cached); not yet measured end to end.
    "cpu": FidelityPreset("2-core CPU reference on CIFAR-10 at 16x16", resize=16,
                          per_class=500, test_per_class=200, sample=36, ipc=10,
                          proxy_epochs=60, truth_epochs=20,
                          # DM at 16x16 took 2.4-3.4 s/iteration here (1 thread, loaded
                          # machine, 64 real images per class): 500 iterations ~ 20-28 min.
                          # D2M needs `nas pretrain` + `nas distill --method d2m` first.
                          proxy_options={"dm": {"iterations": 500, "batch_real": 64}}),
    # D2M paper, NAS experiment: all 720 ConvNets, IPC 50, 200 epochs on proxies, 100 on
    # the full data (REFERENCE.md); for a GPU machine.
    "paper": FidelityPreset("full protocol of the D2M paper (GPU)", resize=None,
                            per_class=None, test_per_class=None, sample=720, ipc=50,
                            proxy_epochs=200, truth_epochs=100),
}


def get_preset(name: str) -> FidelityPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose from {list(PRESETS)}") from None


def available_proxies(preset: FidelityPreset, note: Callable[[str], None]) -> list[str]:
    """The preset's data proxies that are registered here; ``note`` is told of the others."""
    registered = list_proxies()
    chosen = []
    for method in preset.proxies:
        if method in registered and get_proxy(method).uses_ipc:
            chosen.append(method)
        else:
            note(f"skipping proxy {method!r}: not registered here (registered: "
                 f"{', '.join(registered)})")
    return chosen


def run_fidelity(db: Database | str | None, preset: FidelityPreset, out_dir: Path | None = None,
                 *, data_path: str | None = None, name: str = "custom", progress: bool = True,
                 note: Callable[[str], None] = print) -> tuple[dict, dict[str, Path]]:
    """Run the whole benchmark and write its report into ``out_dir`` (default: report-NAME/
    beside the database).

    Every step is cached in ``db`` (proxies by key, runs by dataset + architecture + protocol
    + seed, zero-cost scores by config), so an interrupted run resumes where it stopped and
    a finished one re-renders its report without training.

    Args:
        db: a Database, or its URL (None: the default), opened only once the data has loaded,
            so a bad dataset path leaves no database behind.

    Returns:
        (report dict, written paths by name).
    """
    data = api.load_data(preset.data_config(str(resolve_data_path(data_path))))
    db = db if isinstance(db, Database) else Database(db)
    dataset = api.register_dataset(db, data)
    archs = select_architectures(get_space(preset.space), sample=preset.sample,
                                 where=list(preset.where), seed=preset.seed)
    note(f"{len(archs)} architectures of {preset.space}, dataset {dataset.key} "
         f"({data.describe()})")
    proxy_plan = api.EvaluationPlan(preset.space, archs, TrainConfig(epochs=preset.proxy_epochs),
                                    seed=preset.seed)
    for method in available_proxies(preset, note):
        try:
            proxy = api.build_proxy(db, data, dataset, method, ipc=preset.ipc,
                                    seed=preset.seed, options=preset.proxy_options.get(method, {}))
        except ValueError as exc:  # e.g. d2m without a distilled generator on this dataset
            note(f"skipping proxy {method!r}: {str(exc).splitlines()[0]}")
            continue
        api.evaluate_architectures(db, data, dataset, proxy, proxy_plan, progress=progress)
    score_architectures(db, data, dataset, preset.space, archs, list(preset.zero_cost),
                        ZeroCostConfig(batches=preset.zero_cost_batches, seed=preset.seed),
                        progress=progress)
    truth_plan = api.EvaluationPlan(preset.space, archs, TrainConfig(epochs=preset.truth_epochs),
                                    seed=preset.seed)
    api.evaluate_architectures(db, data, dataset, None, truth_plan, progress=progress)
    report = build_report(db, dataset, ReportConfig(
        space=preset.space, arch_ids=tuple(archs), proxy_epochs=preset.proxy_epochs,
        truth_epochs=preset.truth_epochs, title=f"Proxy fidelity benchmark ({name})",
        extra={"name": name, **dataclasses.asdict(preset)}))
    return report, write_report(report, out_dir or db.home / f"report-{name}")
