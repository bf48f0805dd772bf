"""How the report names and prices its sources: proxy sets of one method and IPC told apart by
their options, generated proxies charged their generator's pre-training, figures as wide as
their panels. The database is real SQLite filled through the storage layer (no training)."""

from __future__ import annotations

from nas.analysis.plots import scatter_grid
from nas.analysis.render import columns, summary_rows, write_report
from nas.analysis.report import ReportConfig, build_report
from nas.analysis.report_data import SourceRow
from nas.core.trainer import TrainConfig
from proxies.artifacts import D2M_GENERATOR, GAN_GENERATOR
from search_spaces import get_space
from storage import (
    Database,
    DatasetRecord,
    ProxyRecord,
    RunRecord,
    add_proxy,
    record_run,
    upsert_dataset,
)

ARCHS = [spec.id for spec in get_space("convnet720").enumerate()[:6]]
TRUTH = [0.40, 0.55, 0.30, 0.62, 0.48, 0.35]  # full-data test accuracy per architecture
RUN_SECONDS = 2.0  # every proxy run
PRETRAIN_S, REFINE_S, SAMPLE_S = 1200.0, 300.0, 4.0  # gan pre-training, d2m refinement, sampling


def _dataset(db: Database) -> DatasetRecord:
    return upsert_dataset(
        db, key="tiny", source_path="/data", content_hash="0" * 16,
        config={"path": "/data", "per_class": 10, "split_seed": 0},
        summary={"classes": list("abcd"), "shape": [3, 8, 8], "train": 36, "val": 4,
                 "test": 8})


def _proxy(db: Database, dataset: DatasetRecord, method: str, *, ipc: int | None = 10,
           seed: int = 0, params: dict | None = None, seconds: float = SAMPLE_S,
           digest: str | None = None) -> ProxyRecord:
    key = f"{method}-{ipc}-{seed}-{sorted((params or {}).items())}"
    return add_proxy(db, key=key, dataset_id=dataset.id, method=method, ipc=ipc, seed=seed,
                     params=params or {}, artifact_path=None, artifact_hash=digest,
                     build_seconds=seconds, device="cpu", versions={})


def _runs(db: Database, dataset: DatasetRecord, proxy: ProxyRecord | None,
          scores: list[float]) -> None:
    epochs = 2 if proxy else 4
    source = proxy.label if proxy else "full"
    space = get_space("convnet720")
    for arch, score in zip(ARCHS, scores, strict=True):
        run = RunRecord(key=f"{source}-{proxy.key if proxy else ''}-{arch}", space="convnet720",
                        arch_id=arch, dataset_id=dataset.id,
                        proxy_id=proxy.id if proxy else None, seed=0, epochs=epochs,
                        config={"train": TrainConfig(epochs=epochs).to_dict(), "source": source},
                        status="finished", val_acc=score, test_acc=score, train_loss=1.0,
                        num_params=1, macs=1, wall_seconds=RUN_SECONDS if proxy else 20.0,
                        device="cpu", versions={})
        record_run(db, run, space.parse(arch).params())


def fill(db: Database) -> DatasetRecord:
    """Ground truth; two DM sets of different iterations; a D2M set sampled from a
    d2m-generator refined from a pre-trained GAN; a random set."""
    dataset = _dataset(db)
    _runs(db, dataset, None, TRUTH)
    for iterations, scores in ((200, [0.2, 0.3, 0.1, 0.4, 0.25, 0.15]),
                               (1000, [0.3, 0.2, 0.1, 0.4, 0.35, 0.15])):
        _runs(db, dataset, _proxy(db, dataset, "dm", params={"iterations": iterations,
                                                             "lr": 1.0}), scores)
    gan = _proxy(db, dataset, GAN_GENERATOR, ipc=None, seconds=PRETRAIN_S, digest="a" * 32,
                 params={"pretrain": {"epochs": 30}})
    refined = _proxy(db, dataset, D2M_GENERATOR, ipc=None, seconds=REFINE_S, digest="b" * 32,
                     params={"base": gan.artifact_hash, "d2m": {"iterations": 50}})
    _runs(db, dataset, _proxy(db, dataset, "d2m", params={"artifact": refined.artifact_hash}),
          [0.25, 0.3, 0.2, 0.33, 0.28, 0.22])
    _runs(db, dataset, _proxy(db, dataset, "random"), [0.3, 0.25, 0.2, 0.3, 0.28, 0.1])
    return dataset


def _rows(db: Database, dataset: DatasetRecord) -> dict[str, SourceRow]:
    report = build_report(db, dataset, ReportConfig(n_resamples=20, zero_cost=False))
    return {row.name: row for row in report.rows}


def test_sets_of_one_method_and_ipc_are_labelled_by_the_options_that_differ(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'nas.db'}")
    rows = _rows(db, fill(db))
    assert set(rows) == {"dm-ipc10[iterations=200]", "dm-ipc10[iterations=1000]", "d2m-ipc10",
                         "random-ipc10"}  # lr is shared by both DM sets: not in the label


def test_sets_with_identical_options_keep_their_plain_label(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'nas.db'}")
    dataset = _dataset(db)
    _runs(db, dataset, None, TRUTH)
    for seed in (0, 1):
        _runs(db, dataset, _proxy(db, dataset, "dm", seed=seed, params={"iterations": 200}),
              [0.2, 0.3, 0.1, 0.4, 0.25, 0.15])
    assert set(_rows(db, dataset)) == {"dm-ipc10", "dm-ipc10/seed1"}


def test_a_generated_proxy_is_charged_its_generators_pre_training_apart_and_in_total(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'nas.db'}")
    dataset = fill(db)
    report = build_report(db, dataset, ReportConfig(n_resamples=20, zero_cost=False))
    rows = {row.name: row for row in report.rows}
    d2m = rows["d2m-ipc10"].costs
    runs = RUN_SECONDS * len(ARCHS)
    assert d2m["build_seconds"] == SAMPLE_S + REFINE_S
    assert d2m["pretrain_seconds"] == PRETRAIN_S
    assert d2m["total_proxy_seconds"] == PRETRAIN_S + REFINE_S + SAMPLE_S + runs
    assert d2m["speedup"] == 20.0 * len(ARCHS) / (PRETRAIN_S + REFINE_S + SAMPLE_S + runs)
    assert d2m["speedup_without_pretrain"] == 20.0 * len(ARCHS) / (REFINE_S + SAMPLE_S + runs)
    assert [p["kind"] for p in rows["d2m-ipc10"].details["made_from"]] == [D2M_GENERATOR,
                                                                           GAN_GENERATOR]
    dm = rows["dm-ipc10[iterations=200]"].costs
    assert (dm["build_seconds"], dm["pretrain_seconds"]) == (SAMPLE_S, 0.0)
    cells = {r[0]: dict(zip(columns(report), r, strict=True)) for r in summary_rows(report)}
    assert cells["d2m-ipc10"]["pre-train s"] == "1,200"
    assert cells["d2m-ipc10"]["total s"] == f"{PRETRAIN_S + REFINE_S + SAMPLE_S + runs:,.0f}"
    assert "w/o pre-train" in cells["d2m-ipc10"]["speed-up"]
    assert cells["random-ipc10"]["pre-train s"] == "–"
    markdown = write_report(report, tmp_path / "report")["markdown"].read_text()
    assert "pre-train s" in markdown and "from gan-generator aaaaaaaa" in markdown


def test_a_one_proxy_scatter_figure_is_one_panel_wide(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'nas.db'}")
    dataset = _dataset(db)
    _runs(db, dataset, None, TRUTH)
    _runs(db, dataset, _proxy(db, dataset, "random"), [0.3, 0.25, 0.2, 0.3, 0.28, 0.1])
    one = build_report(db, dataset, ReportConfig(n_resamples=20, zero_cost=False))
    figure = scatter_grid(one)
    assert len(figure.axes) == 1 and figure.axes[0].get_visible()
    four_db = Database(f"sqlite:///{tmp_path / 'four.db'}")
    four = build_report(four_db, fill(four_db), ReportConfig(n_resamples=20, zero_cost=False))
    wide = scatter_grid(four)
    assert all(ax.get_visible() for ax in wide.axes[:4])
    per_panel = figure.get_size_inches()[0]
    assert wide.get_size_inches()[0] == 3 * per_panel  # 4 rows: 3 a line, not wider
