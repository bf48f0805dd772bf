import json

import pytest

from nas import api
from nas.cli import main
from nas.core.data import DataConfig
from nas.core.trainer import TrainConfig
from storage import Database, list_datasets, list_runs

FLAGS = ["--resize", "16", "--per-class", "20", "--test-per-class", "10"]


def _full_runs(url):
    db = Database(url)
    return db, {r.key: r for r in list_runs(db, dataset_id=list_datasets(db)[0].id,
                                            full_data=True)}


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_exported_ground_truth_imports_into_a_fresh_database_as_cached_runs(
        tiny_bench, tmp_path, suffix):
    url, _, data = tiny_bench
    path = tmp_path / f"gt{suffix}"
    assert main(["ground-truth", "--db", url, "--data", str(data), *FLAGS,
                 "--export", str(path)]) == 0
    fresh = f"sqlite:///{tmp_path / 'small-machine.db'}"
    assert main(["ground-truth", "--db", fresh, "--data", str(data), *FLAGS,
                 "--import", str(path)]) == 0
    _, source = _full_runs(url)
    db, imported = _full_runs(fresh)
    assert set(imported) == set(source)  # same keys: dataset + architecture + protocol + seed
    for key, run in imported.items():
        assert (run.arch_id, run.val_acc, run.test_acc, run.wall_seconds) == (
            source[key].arch_id, source[key].val_acc, source[key].test_acc,
            source[key].wall_seconds)
    # the evaluator finds the imported run instead of training again
    run = next(iter(imported.values()))
    prepared = api.load_data(DataConfig(str(data), resize=16, per_class=20, test_per_class=10))
    evaluator = api.Evaluator(db, prepared, list_datasets(db)[0], None)
    again = evaluator.evaluate(run.space, run.arch_id, TrainConfig(**run.config["train"]),
                               run.seed)
    assert again.wall_seconds == run.wall_seconds
    # importing twice adds nothing
    assert main(["ground-truth", "--db", fresh, "--data", str(data), *FLAGS,
                 "--import", str(path)]) == 0
    assert _full_runs(fresh)[1].keys() == imported.keys()


def test_ground_truth_of_another_dataset_config_is_refused(tiny_bench, tmp_path, capsys):
    url, _, data = tiny_bench
    path = tmp_path / "gt.json"
    assert main(["ground-truth", "--db", url, "--data", str(data), *FLAGS,
                 "--export", str(path)]) == 0
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert main(["ground-truth", "--db", other, "--data", str(data), "--resize", "8",
                 "--import", str(path)]) == 2
    assert "not of" in capsys.readouterr().err
    db = Database(other)
    assert list_runs(db) == []


def test_a_malformed_file_is_rejected_and_nothing_is_written(tiny_bench, tmp_path, capsys):
    url, _, data = tiny_bench
    good = tmp_path / "gt.json"
    assert main(["ground-truth", "--db", url, "--data", str(data), *FLAGS,
                 "--export", str(good)]) == 0
    blob = json.loads(good.read_text())
    blob["runs"][-1]["train"]["epochz"] = 3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(blob))
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert main(["ground-truth", "--db", fresh, "--data", str(data), *FLAGS,
                 "--import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"row {len(blob['runs'])}" in err and "epochz" in err
    assert list_runs(Database(fresh)) == []
    assert main(["ground-truth", "--db", fresh, "--data", str(data), *FLAGS,
                 "--import", str(tmp_path / "gt.txt")]) == 2


def test_ground_truth_in_worker_processes_matches_one_process(tiny_data, tmp_path):
    archs = ["d1-w32-relu-none-avg", "d1-w32-relu-batch-max", "d2-w32-relu-instance-avg"]
    runs = {}
    for workers in ("1", "2"):
        url = f"sqlite:///{tmp_path / f'w{workers}.db'}"
        assert main(["ground-truth", "--db", url, "--data", str(tiny_data), *FLAGS,
                     "--archs", *archs, "--epochs", "2", "--threads", "1",
                     "--workers", workers]) == 0
        _, found = _full_runs(url)
        runs[workers] = {r.arch_id: (r.val_acc, r.test_acc, r.train_loss, r.status)
                         for r in found.values()}
        devices = {r.device for r in found.values()}
        assert len(found) == 3 and devices and all("1 threads" in d for d in devices)
    assert runs["2"] == runs["1"]


def test_ground_truth_refuses_zero_workers_before_the_database(tiny_data, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["ground-truth", "--db", url, "--data", str(tiny_data), *FLAGS,
                 "--archs", "d1-w32-relu-none-avg", "--workers", "0"]) == 2
    assert "--workers must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "nas.db").exists()
