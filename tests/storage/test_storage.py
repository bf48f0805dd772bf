import pytest
from sqlalchemy import text

from storage import (
    Database,
    RunRecord,
    StorageError,
    add_proxy,
    create_search,
    find_proxy,
    get_run,
    list_proxy_records,
    list_runs,
    record_run,
    upsert_dataset,
)


@pytest.fixture(params=["sqlite-memory", "sqlite-file",
                        pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request, tmp_path):
    """The storage contract runs on every backend the toolkit supports."""
    if request.param == "sqlite-memory":
        return Database("sqlite://")
    if request.param == "postgresql":
        return Database(request.getfixturevalue("postgres_url"))
    return Database(f"sqlite:///{tmp_path / 'nas.db'}")


def _run(key, dataset_id, proxy_id=None, arch="d1-w32-relu-none-avg", status="finished"):
    return RunRecord(key=key, space="convnet720", arch_id=arch, dataset_id=dataset_id,
                     proxy_id=proxy_id, seed=0, epochs=3, config={"train": {}}, status=status,
                     val_acc=0.5, test_acc=0.4, train_loss=1.0, num_params=10, macs=20,
                     wall_seconds=1.5, device="cpu", versions={"torch": "x"})


class TestStorageContract:
    def test_dataset_upsert_is_idempotent_by_key(self, db):
        a = upsert_dataset(db, key="k", source_path="/d", content_hash="h", config={},
                           summary={"classes": ["a"]})
        b = upsert_dataset(db, key="k", source_path="/other", content_hash="h", config={},
                           summary={})
        assert a.id == b.id and b.source_path == "/d"

    def test_proxy_round_trip(self, db):
        ds = upsert_dataset(db, key="k", source_path="/d", content_hash="h", config={}, summary={})
        add_proxy(db, key="p", dataset_id=ds.id, method="random", ipc=10, seed=0, params={},
                  artifact_path="/a.pt", artifact_hash="x", build_seconds=0.1, device="cpu",
                  versions={})
        found = find_proxy(db, "p")
        assert found.label == "random-ipc10" and found.artifact_hash == "x"
        assert [p.key for p in list_proxy_records(db, ds.id)] == ["p"]
        assert find_proxy(db, "missing") is None

    def test_runs_are_replaced_by_key_and_filtered_by_source(self, db):
        ds = upsert_dataset(db, key="k", source_path="/d", content_hash="h", config={}, summary={})
        proxy = add_proxy(db, key="p", dataset_id=ds.id, method="random", ipc=1, seed=0,
                          params={}, artifact_path=None, artifact_hash=None, build_seconds=0,
                          device="cpu", versions={})
        record_run(db, _run("r1", ds.id, proxy.id, status="failed"), {"depth": 1})
        record_run(db, _run("r1", ds.id, proxy.id), {"depth": 1})
        record_run(db, _run("r2", ds.id, None), {"depth": 1})
        assert get_run(db, "r1").status == "finished"
        assert [r.key for r in list_runs(db, proxy_id=proxy.id)] == ["r1"]
        assert [r.key for r in list_runs(db, dataset_id=ds.id, full_data=True)] == ["r2"]
        assert get_run(db, "nope") is None

    def test_search_rows_are_reused_by_name(self, db):
        ds = upsert_dataset(db, key="k", source_path="/d", content_hash="h", config={}, summary={})
        first = create_search(db, name="s", space="convnet720", dataset_id=ds.id, proxy_id=None,
                              strategy="grid", seed=0, config={"a": 1})
        assert create_search(db, name="s", space="convnet720", dataset_id=ds.id, proxy_id=None,
                             strategy="grid", seed=0, config={}) == first

    def test_failed_transaction_changes_nothing_and_raises_storage_error(self, db):
        with pytest.raises(StorageError):
            with db.session() as s:
                s.execute(text("INSERT INTO nas_meta (key, value) VALUES ('x', 'y')"))
                s.execute(text("INSERT INTO nas_meta (key, value) VALUES ('x', 'z')"))
        with db.session() as s:
            assert s.execute(text("SELECT count(*) FROM nas_meta WHERE key='x'")).scalar() == 0


def test_schema_version_mismatch_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    db = Database(url)
    with db.session() as s:
        s.execute(text("UPDATE nas_meta SET value='999' WHERE key='schema_version'"))
    with pytest.raises(StorageError, match="schema version 999"):
        Database(url)


def test_sqlite_database_directory_is_created_and_artifacts_live_beside_it(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'deep' / 'nas.db'}")
    assert (tmp_path / "deep" / "nas.db").is_file()
    assert db.home == (tmp_path / "deep").resolve()


@pytest.mark.parametrize("backend", ["sqlite-file",
                                     pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_version_3_database_gains_the_curve_column_in_place(backend, tmp_path, request):
    url = (request.getfixturevalue("postgres_url") if backend == "postgresql"
           else f"sqlite:///{tmp_path / 'nas.db'}")
    db = Database(url)
    ds = upsert_dataset(db, key="d", source_path="/x", content_hash="h", config={},
                        summary={})
    record_run(db, _run("old", ds.id), {})
    with db.session() as s:  # what a version-3 database looks like
        s.execute(text("ALTER TABLE nas_runs DROP COLUMN curve"))
        s.execute(text("UPDATE nas_meta SET value='3' WHERE key='schema_version'"))
    db.engine.dispose()
    migrated = Database(url)
    assert get_run(migrated, "old").curve is None  # old runs kept, without a curve
    curve = {"train_loss": [1.0, 0.5], "val_acc": [[2, 0.25]]}
    record_run(migrated, RunRecord(**{**vars(_run("new", ds.id)), "curve": curve}), {})
    assert get_run(migrated, "new").curve == curve
    with migrated.session() as s:
        assert s.execute(text("SELECT value FROM nas_meta")).scalar() == "4"
