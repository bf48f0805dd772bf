"""The main job: the whole pipeline on real CIFAR-10 at a 2-core-CPU scale (~4 minutes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nas import api
from nas.analysis.render import write_report
from nas.analysis.report import ReportConfig, build_report
from nas.analysis.report_data import Report
from nas.core.data import DataConfig, resolve_data_path
from nas.core.selection import select_architectures
from nas.core.trainer import TrainConfig
from nas.engines import SearchConfig, SearchJob, run_search
from search_spaces import get_space
from storage import Database, default_url

SPACE = "convnet720"


@dataclass(frozen=True)
class DemoConfig:
    """Scale chosen so a 2-core CPU finishes data -> proxy -> search -> ground truth -> report
    in about 4 minutes (measured); every number is a flag of the individual commands too."""

    resize: int = 16  # 4x fewer pixels than 32x32 (docs/speed.md#this-machine: ~4x faster)
    per_class: int = 500  # train+val images per class: 450 train, 50 val
    test_per_class: int = 200
    ipc: int = 50  # the NAS protocol's proxy size (docs/papers.md#training-protocol)
    sample: int = 12  # stratified: every depth, activation, norm and pooling level appears
    where: tuple[str, ...] = ("width=32,64",)  # the narrow half of the grid keeps it fast
    proxy_epochs: int = 30
    full_epochs: int = 8
    seed: int = 0


def run_demo(config: DemoConfig, *, data_path: str | None = None, db_url: str | None = None,
             progress: bool = True) -> tuple[Database, Report, dict[str, Path]]:
    """Run the pipeline; returns the database, the fidelity report and its files by name
    (html, markdown, json, figures) under the database's home directory.

    The proxy and the full-data trainings are two grid searches (``nas search``'s engine), so
    their Optuna studies ("<space>/random-ipc<N>/grid/seed<s>", "<space>/full/grid/seed<s>")
    are in the database for `nas dashboard`."""
    data_cfg = DataConfig(path=str(resolve_data_path(data_path)), resize=config.resize,
                          per_class=config.per_class, test_per_class=config.test_per_class)
    archs = tuple(select_architectures(get_space(SPACE), sample=config.sample,
                                       where=list(config.where), seed=config.seed))
    data = api.load_data(data_cfg)
    url = db_url or default_url()
    for proxy, epochs in (("random", config.proxy_epochs), ("full", config.full_epochs)):
        search = SearchConfig(space=SPACE, proxy=proxy, ipc=config.ipc, proxy_seed=config.seed,
                              strategy="grid", archs=archs, seed=config.seed,
                              train=TrainConfig(epochs=epochs))
        run_search(SearchJob(url, data_cfg, search), data=data, progress=progress)
    db = Database(url)
    report = build_report(db, api.registered_dataset(db, data), ReportConfig(
        arch_ids=archs, proxy_epochs=config.proxy_epochs, truth_epochs=config.full_epochs,
        zero_cost=False, title="Random proxy vs full-data training (demo)"))
    return db, report, write_report(report, db.home / "report")
