"""``nas distill --method d3`` and ``nas search --proxy d3 --elf`` end to end on a tiny image
folder with a real SQLite file."""

import sqlite3

import pytest

from nas.cli import main
from storage import Database, list_proxy_records, list_runs

TINY_D3 = ["--iterations", "2", "--latent-dim", "8", "--decoder-width", "8",
           "--real-per-class", "8", "--syn-per-class", "4", "--no-trajectory",
           "--pool", "w32-relu-instance-avg"]


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'nas.db'}"


def _dump(url: str) -> list[str]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return list(conn.iterdump())


def test_distill_d3_then_search_on_it_with_and_without_elf(image_folder, db_url):
    data = ["--data", str(image_folder), "--db", db_url, "--threads", "1"]
    assert main(["distill", "--method", "d3", "--ipc", "2", *data, *TINY_D3]) == 0
    rows = list_proxy_records(Database(db_url))
    assert sorted((p.method, p.ipc or 0) for p in rows) == [("d3", 2), ("d3-priors", 0)]
    argv = ["search", *data, "--proxy", "d3", "--ipc", "5", "--archs",
            "d1-w32-relu-instance-avg", "--epochs", "1", "--workers", "1",
            "--elf-feature-epochs", "1"]
    assert main(argv) == 0  # the IPC-5 set is sampled from the stored priors
    assert main([*argv, "--elf", "--elf-front", "0.5", "--elf-rear", "2"]) == 0
    runs = {r.config["source"]: r for r in list_runs(Database(db_url))}
    assert set(runs) == {"d3-ipc5", "d3-ipc5+elf"}
    assert runs["d3-ipc5"].config["elf"] is None
    assert (runs["d3-ipc5+elf"].config["elf"]["front"],
            runs["d3-ipc5+elf"].config["elf"]["rear"]) == (0.5, 2.0)
    d3_sets = [p for p in list_proxy_records(Database(db_url)) if p.method == "d3"]
    assert {p.params["stored_params"] for p in d3_sets} == {
        next(p for p in rows if p.ipc is None).params["stored_params"]}


@pytest.mark.parametrize(("argv", "message"), [
    (["distill", "--method", "d3", "--subtasks", "4", *TINY_D3],
     "--subtasks must be between 1 and the number of classes"),
    (["distill", "--method", "d3", "--span", "9", *TINY_D3[:2]],
     "--span (9) must be between 1 and --expert-epochs"),
    (["search", "--proxy", "d3", "--ipc", "5", "--archs", "d1-w32-relu-none-avg"],
     "no d3-priors stored for dataset"),
    (["search", "--proxy", "full", "--elf", "--archs", "d1-w32-relu-none-avg"],
     "ELF supervises training on a distilled set"),
])
def test_bad_d3_or_elf_input_exits_2_with_one_line_and_leaves_the_database_unchanged(
        image_folder, db_url, capsys, argv, message):
    data = ["--data", str(image_folder), "--db", db_url]
    assert main(["data", *data]) == 0
    before = _dump(db_url)
    capsys.readouterr()
    assert main([*argv, *data]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert _dump(db_url) == before
