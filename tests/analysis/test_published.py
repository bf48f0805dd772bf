"""NAS-Bench-201's published accuracies as ground truth: lookup order, packaged copy, and
`nas ground-truth --benchmark nb201` end to end (tiny real image folder, real SQLite)."""

import csv
from pathlib import Path

import pytest
from scipy import stats

import nas.api
import nas.published
from nas.analysis.zero_cost import score_architectures
from nas.cli import main
from nas.core.data import DataConfig
from nas.published import load_nb201, resolve_table_path
from search_spaces import get_space
from storage import Database, list_runs

SHARED = Path(__file__).resolve().parents[2].parent / "shared/data/nas-bench-201"
ARCHS = ["nb201-6111", "nb201-11472", "nb201-0"]


@pytest.fixture
def packaged_only(monkeypatch):
    monkeypatch.setattr(nas.published, "shared_candidates", lambda: [])
    monkeypatch.delenv(nas.published.BENCHMARK_ENV, raising=False)


def test_packaged_table_holds_the_published_optima(packaged_only):
    table = load_nb201()
    assert table.origin.startswith("packaged")
    space = get_space("nb201")
    test = table.accuracy("cifar10_test_acc")
    best = max(test, key=test.get)
    assert space.parse(best).index == 6111 and test[best] == pytest.approx(94.37, abs=5e-3)
    assert table.accuracy("cifar10_valid_acc")[best] == pytest.approx(91.61, abs=1e-2)
    assert test[space.parse("nb201-11472").id] == pytest.approx(93.91, abs=5e-3)


def test_flag_then_environment_then_shared_copy(tmp_path, monkeypatch):
    monkeypatch.delenv(nas.published.BENCHMARK_ENV, raising=False)
    given = tmp_path / "given"
    given.mkdir()
    (given / "nb201_accuracies.csv").write_text("arch_index\n")
    env = tmp_path / "env.csv"
    env.write_text("arch_index\n")
    monkeypatch.setenv(nas.published.BENCHMARK_ENV, str(env))
    assert resolve_table_path(str(given)) == given / "nb201_accuracies.csv"
    assert resolve_table_path() == env
    with pytest.raises(ValueError, match="not found"):
        resolve_table_path(str(tmp_path / "missing.csv"))
    monkeypatch.delenv(nas.published.BENCHMARK_ENV)
    monkeypatch.setattr(nas.published, "shared_candidates", lambda: [given])
    assert resolve_table_path() == (given / "nb201_accuracies.csv").resolve()


def test_a_file_of_another_layout_is_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    with open(bad, "w", newline="") as f:
        csv.writer(f).writerows([["arch_index", "arch_str"], ["0", "|none~0|"]])
    with pytest.raises(ValueError, match="not a NAS-Bench-201 row"):
        load_nb201(str(bad))


@pytest.mark.skipif(not (SHARED / "nb201_accuracies.csv").is_file(),
                    reason="shared NAS-Bench-201 table not found")
def test_packaged_copy_equals_the_shared_table_to_three_decimals(packaged_only):
    packaged, shared = load_nb201(), load_nb201(str(SHARED))
    for column in nas.published.COLUMNS:
        a, b = packaged.accuracy(column), shared.accuracy(column)
        assert a.keys() == b.keys()
        assert max(abs(a[k] - b[k]) for k in a) <= 5e-4


def test_ground_truth_from_the_benchmark_trains_nothing_and_reports_its_source(
        image_folder, tmp_path, packaged_only, capsys):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    common = ["--data", str(image_folder), "--db", db]
    assert main(["search", "--space", "nb201", "--proxy", "random", "--ipc", "2", "--epochs",
                 "1", "--archs", *ARCHS, "--workers", "1", *common]) == 0
    assert main(["ground-truth", "--benchmark", "nb201", *common]) == 0
    database, table = Database(db), load_nb201()
    runs = list_runs(database, full_data=True)
    space = get_space("nb201")
    ids = {space.parse(a).id for a in ARCHS}
    assert {r.arch_id for r in runs} == ids and all(r.wall_seconds == 0 for r in runs)
    assert all(r.test_acc == pytest.approx(table.accuracy("cifar10_test_acc")[r.arch_id] / 100)
               and r.val_acc is None and r.config["source"] == "published NAS-Bench-201 cifar10"
               for r in runs)

    data = nas.api.load_data(DataConfig(path=str(image_folder)))
    dataset = nas.api.register_dataset(database, data)
    archs = sorted(ids)
    scores = score_architectures(database, data, dataset, "nb201", archs, ["synflow"],
                                 progress=False)
    capsys.readouterr()
    out_dir = tmp_path / "report"
    assert main(["report", "--space", "nb201", "--out", str(out_dir), *common]) == 0
    out = capsys.readouterr().out
    expected = stats.spearmanr([s.value for s in scores],
                               [table.accuracy("cifar10_test_acc")[a] for a in archs]).statistic
    assert f"{expected:.3f}" in out and "random-ipc2" in out
    assert "published NAS-Bench-201 cifar10" in (out_dir / "report.md").read_text()

    # the other published metric replaces the rows: the 25k-trained model's numbers
    assert main(["ground-truth", "--benchmark", "nb201", "--metric", "cifar10_valid_acc",
                 "--archs", *ARCHS, *common]) == 0
    runs = list_runs(database, full_data=True)
    assert len(runs) == 3
    assert all(r.val_acc == pytest.approx(table.accuracy("cifar10_valid_acc")[r.arch_id] / 100)
               and r.config["published"]["trained_on"] == "cifar10-valid" for r in runs)


def test_benchmark_rows_need_nb201_ids(image_folder, tmp_path, packaged_only):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["ground-truth", "--benchmark", "nb201", "--archs", "d1-w32-relu-none-avg",
                 "--data", str(image_folder), "--db", db]) == 2
