"""benchmarks/with_tensors.py: runs made from saved tensors, without the image files, land on
the dataset the files define, so their export imports where the files are."""


from nas import api
from nas.cli import main
from nas.core.data import DataConfig
from storage import Database, list_datasets, list_runs
from tests.bench.scripts import load_benchmark
from tests.datasets import write_image_folder

ARCH = "d1-w32-relu-none-avg"




def test_runs_from_saved_tensors_import_into_the_dataset_of_the_files(tmp_path, monkeypatch):
    data = write_image_folder(tmp_path / "data", n_train=6, n_test=2, size=16)
    monkeypatch.setenv("NAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(api, "load_raw", api.load_raw)  # the script replaces it: undone after
    script = load_benchmark("with_tensors")
    monkeypatch.delenv(script.SERVED, raising=False)  # which it sets for its workers
    script.save(str(tmp_path / "raw8.pt"), str(data), 8)
    remote = f"sqlite:///{tmp_path / 'remote.db'}"
    absent = str(tmp_path / "no-such-folder")
    assert script.run(str(tmp_path / "raw8.pt"),
                      ["ground-truth", "--db", remote, "--data", absent, "--resize", "8",
                       "--archs", ARCH, "--epochs", "1", "--export",
                       str(tmp_path / "truth.csv")]) != 0  # nothing to export yet
    assert script.run(str(tmp_path / "raw8.pt"),
                      ["ground-truth", "--db", remote, "--data", absent, "--resize", "8",
                       "--archs", ARCH, "--epochs", "1"]) == 0
    assert script.run(str(tmp_path / "raw8.pt"),
                      ["ground-truth", "--db", remote, "--data", absent, "--resize", "8",
                       "--export", str(tmp_path / "truth.csv")]) == 0
    expected = api.load_data(DataConfig(path=str(data), resize=8)).key
    assert [d.key for d in list_datasets(Database(remote))] == [expected]

    local = f"sqlite:///{tmp_path / 'local.db'}"
    assert main(["ground-truth", "--db", local, "--data", str(data), "--resize", "8",
                 "--import", str(tmp_path / "truth.csv")]) == 0
    runs = list_runs(Database(local), full_data=True)
    assert [(r.arch_id, r.epochs) for r in runs] == [(ARCH, 1)]
