"""A SQLite database in a directory that does not exist yet: created, as for the default."""

from __future__ import annotations

from storage import Database, exclusive


def test_study_lock_creates_the_missing_directory(tmp_path):
    folder = tmp_path / "some" / "new" / "dir"
    with exclusive(f"sqlite:///{folder / 'x.db'}", "nas-search-setup"):
        assert folder.is_dir()


def test_lock_then_database_in_a_new_directory(tmp_path):
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'x.db'}"
    with exclusive(url, "nas-search-setup"):  # the order a search opens them in
        db = Database(url)
    assert (tmp_path / "a" / "b" / "x.db").is_file() and db.home == (tmp_path / "a" / "b")
