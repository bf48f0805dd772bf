"""Bad input never reaches a traceback: every malformed invocation below exits 2 with one
stderr line naming the bad value, and leaves the database file byte-for-byte unchanged.

``benchmarks/bad_input_table.py`` runs the same table and writes its messages to
``benchmarks/results/bad-input.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import hashlib
import io
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch

import nas.cli.data
from nas.cli import COMMANDS, build_parser, main
from nas.ground_truth import COLUMNS
from tests.datasets import write_image_folder

ARCH = "d1-w32-relu-none-avg"
# (argv with {data} {db} {tmp} placeholders, text the one stderr line must contain)
CASES: list[tuple[str, str]] = [
    # IPC: >= 1, and at most the 18 training images per class for methods picking real ones
    ("proxy --ipc 0", "ipc must be at least 1, got 0"),
    ("proxy --ipc 500", "--ipc 500 is more than the 18 training images"),
    ("proxy --method dm --ipc 50", "--ipc 50 is more than the 18 training images"),
    (f"search --ipc 100 --archs {ARCH}", "--ipc 100 is more than the 18 training images"),
    ("proxy --method nope", "unknown proxy method 'nope'"),
    ("proxy --proxy-seed -1", "proxy seed must be >= 0, got -1"),
    ("proxy --ipc abc", "argument --ipc: invalid int value: 'abc'"),
    # training protocol
    (f"search --epochs 0 --archs {ARCH}", "--epochs must be at least 1, got 0"),
    (f"search --lr 0 --archs {ARCH}", "--lr must be positive, got 0.0"),
    (f"search --batch-size 0 --archs {ARCH}", "--batch-size must be at least 1, got 0"),
    (f"search --augment blur --archs {ARCH}", "unknown DSA families ['blur']"),
    # image size vs the architectures, sample sizes, seeds
    ("search --ipc 2 --resize 4 --archs d3-w32-relu-none-avg", "the data is 4x4"),
    ("ground-truth --resize 4 --archs d3-w32-relu-instance-avg", "the data is 4x4"),
    ("search --sample 0", "--sample 0 must be between 1 and 720"),
    ("search --sample 721", "--sample 721 must be between 1 and 720"),
    ("ground-truth --sample 5 --where width=32 depth=1 pooling=none norm=none "
     "activation=relu", "--sample 5 must be between 1 and 1"),
    (f"search --seed -1 --archs {ARCH}", "--seed must be >= 0, got -1"),
    # strategy options
    ("search --strategy tpe --trials 0", "--trials must be at least 1, got 0"),
    (f"search --workers 0 --archs {ARCH}", "--workers must be at least 1, got 0"),
    (f"search --heartbeat 0 --archs {ARCH}", "--heartbeat must be at least 1 second, got 0"),
    (f"search --report-every -1 --archs {ARCH}", "--report-every must be >= 0"),
    (f"search --prune median --report-every 0 --archs {ARCH}",
     "--prune needs --report-every of at least 1 epoch, got 0"),
    ("search --strategy nope", "unknown strategy 'nope'"),
    ("search --proxy mine --ipc 10", "--ipc: 'mine' names an imported set, whose IPC"),
    (f"search --ipc 2 --elf --elf-feature-epochs 0 --archs {ARCH}",
     "--elf-feature-epochs must be at least 1, got 0"),
    # data flags and paths
    ("data --data {tmp}/nowhere", "nowhere"),
    ("data --resize 0", "--resize must be at least 1, got 0"),
    ("data --per-class 0", "--per-class must be at least 1, got 0"),
    ("data --val-fraction 1.5", "--val-fraction must be in [0, 1), got 1.5"),
    ("data --split-seed -1", "--split-seed must be >= 0, got -1"),
    ("data --classes purple", "unknown class 'purple'"),
    # database URLs
    ("data --db notaurl", "'notaurl' is not a database URL"),
    ("data --db mysql://user@host/db", "backend 'mysql' is not supported"),
    # ground-truth import and export
    ("ground-truth --import {tmp}/missing.csv", "missing.csv does not exist"),
    ("ground-truth --import {tmp}/nocolumns.csv", "missing column(s) ['dataset_key'"),
    ("ground-truth --import {tmp}/extra.csv", "unexpected column(s) ['colour']"),
    ("ground-truth --import {tmp}/other.json", "holds ground truth of dataset(s) ['other']"),
    ("ground-truth --import {tmp}/table.txt", "must end in .csv or .json"),
    ("ground-truth --export {tmp}", "is a directory"),
    # report
    ("report --out {tmp}/afile.txt", "afile.txt is a file, not a directory"),
    ("report --resamples 0", "--resamples must be at least 1, got 0"),
    ("report --truth-epochs 0", "--truth-epochs must be at least 1, got 0"),
    ("report --archs resnet", "invalid architecture id 'resnet'"),
    # distill and pretrain
    ("distill --method dm", "distils one set per IPC"),
    ("distill --method dm --ipc 50", "--ipc 50 is more than the 18 training images"),
    ("distill --method dm --ipc 2 --iterations 0", "DM iterations must be at least 1, got 0"),
    ("distill --method d3 --seed -1", "--seed must be >= 0, got -1"),
    ("distill --method d3 --generator abc", "--generator names the generator d2m refines"),
    ("pretrain --iterations 0", "pretrain iterations must be at least 1, got 0"),
    ("pretrain --lr-g 0", "--lr-g and --lr-d must be positive, got 0.0"),
    ("pretrain --width 0", "--width must be at least 1, got 0"),
    ("pretrain --resize 12", "power of two >= 8, got 12"),
    ("pretrain --from-checkpoint {tmp}/nope.pt", "nope.pt does not exist"),
    # benchmarks: presets, overrides, --option
    ("bench fidelity --preset huge", "unknown preset 'huge'"),
    ("bench fidelity --sample 0", "--sample must be at least 1, got 0"),
    ("bench fidelity --seed -2", "--seed must be >= 0, got -2"),
    ("bench fidelity --max-macs 0", "--max-macs must be positive, got 0.0"),
    ("bench fidelity --zero-cost nope", "unknown zero-cost method(s) ['nope']"),
    ("bench fidelity --option nope", "--option 'nope' must look like METHOD.KEY=VALUE"),
    ("bench fidelity --option foo.x=1", "unknown proxy 'foo'"),
    ("bench fidelity --option dm.nope=1", "unknown dm option(s) ['nope']"),
    ("bench fidelity --ipc 500 --proxies random", "--ipc 500 is more than the 18"),
    ("bench fidelity --out {tmp}/afile.txt", "afile.txt is a file, not a directory"),
    ("bench speed --epochs 0 --synthetic", "--epochs must be at least 1, got 0"),
    ("bench two-stage --keep 2", "--keep must be in (0, 1], got 2.0"),
    ("bench two-stage --space convnet720 --truth {tmp}/none.csv", "convnet720 needs --truth"),
    ("bench two-stage --ipc 500 --sample 8 --calibration 3", "--ipc 500 is more than the 18"),
    ("bench two-stage --proxy nope --sample 8 --calibration 3",
     "unknown proxy method 'nope', nor a set imported"),
    ("search --strategy sh --space nb201 --fidelities params full:0", "unknown score 'full:0'"),
    # proxy import and export: files that do not fit the 3-class 16x16 RGB dataset
    ("proxy import {tmp}/res_five_classes.pt --name x --values cifar10-standardized",
     "res_five_classes.pt has 5 classes (labels 0..4), the dataset 3 (blue, green, red)"),
    ("proxy import {tmp}/grey.npz --name x --values unit",
     "grey.npz has 1-channel images, the dataset 3-channel ones"),
    ("proxy import {tmp}/broken.pt --name x", "broken.pt as a torch file"),
    ("proxy import {tmp}/table.txt --name x", "unknown layout of"),
    ("proxy import {tmp}/big --name x --values standardized",
     "has 32x32 images, the dataset 16x16: pass --rescale"),
    ("proxy import {tmp}/big --name x --rescale", "say what big's pixel values are: --values"),
    ("proxy import {tmp}/soft --name x --values standardized", "has soft labels (6x3 floats)"),
    ("proxy import {tmp}/grey.npz", "needs --name NAME"),
    ("proxy import {tmp}/grey.npz --name dm", "--name 'dm': use 1-64 letters"),
    ("proxy export nothing {tmp}/out.npz", "no stored set 'nothing'"),
    ("proxy export nothing {tmp}/out.txt", "cannot tell a layout from 'out.txt'"),
    ("proxy import", "`nas proxy import` takes FILE, got []"),
    # benchmark flags and files, refused before any data is read: --data names no dataset
    ("bench frontier --scores {tmp}/malformed.json", "malformed.json is not a readable JSON"),
    ("bench frontier --scores {tmp}/other.json", "other.json lacks ['scores.params'"),
    ("bench frontier --recipes 99", "unknown frontier recipe '99'; choose from"),
    ("bench nb201-zero-cost --sample 0 --data {tmp}/nowhere --out {tmp}/zc.json",
     "--sample must be between 1 and 15625"),
    ("bench nb201-zero-cost --methods nope --data {tmp}/nowhere --out {tmp}/zc.json",
     "unknown --methods ['nope']"),
    ("ground-truth --benchmark nb201 --benchmark-data {tmp}/MISSING --data {tmp}/nowhere",
     "NAS-Bench-201 table not found at"),
    # dashboard
    ("dashboard --port 99999", "port must be an integer from 1 to 65535, got '99999'"),
    ("dashboard --port http", "port must be an integer from 1 to 65535, got 'http'"),
]


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def prepare(root: Path) -> dict[str, str]:
    """A tiny image folder (3 classes, 20 train images each: 18 after the val split), a
    database made by a valid ``nas data`` call, and the bad files the cases name."""
    data = write_image_folder(root / "images")
    tmp = root / "files"
    tmp.mkdir()
    db = f"sqlite:///{root / 'nas.db'}"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["data", "--data", str(data), "--db", db]) == 0
    gc.collect()  # close the call's connections, then move the WAL into the file: from here
    with contextlib.closing(sqlite3.connect(root / "nas.db")) as conn:  # on, any change shows
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _write_csv(tmp / "nocolumns.csv", ["a", "b"], [[1, 2]])
    _write_csv(tmp / "extra.csv", [*COLUMNS, "colour"], [])
    row = {"dataset_key": "other", "space": "convnet720", "arch_id": ARCH, "seed": 0,
           "train": {"epochs": 2}, "status": "finished", "epochs": 2, "val_acc": 0.5,
           "test_acc": 0.5, "train_loss": 1.0, "num_params": 10, "macs": 10,
           "wall_seconds": 1.0, "device": "cpu", "versions": {}}
    (tmp / "other.json").write_text(json.dumps({"format_version": 1, "runs": [row]}))
    (tmp / "table.txt").write_text("x")
    _write_set_files(tmp)
    (tmp / "malformed.json").write_text('{"scores": ')
    (tmp / "afile.txt").write_text("not a directory")
    return {"data": str(data), "db": db, "tmp": str(tmp)}


def _write_set_files(tmp: Path) -> None:
    """Distilled-set files the proxy import cases refuse."""
    torch.save({"data": [[torch.randn(10, 3, 16, 16), torch.arange(10) % 5]]},
               tmp / "res_five_classes.pt")
    np.savez(tmp / "grey.npz", images=np.random.default_rng(0).random((6, 1, 16, 16)),
             labels=np.arange(6) % 3)
    (tmp / "broken.pt").write_bytes(b"not a torch file")
    for folder, images, labels in (
            ("big", torch.randn(6, 3, 32, 32), torch.arange(6) % 3),
            ("soft", torch.randn(6, 3, 16, 16), torch.softmax(torch.randn(6, 3), 1))):
        (tmp / folder).mkdir()
        torch.save(images, tmp / folder / "images_best.pt")
        torch.save(labels, tmp / folder / "labels_best.pt")


def command_line(case: str, places: dict[str, str]) -> list[str]:
    argv = case.format(**places).split()
    if argv[:2] == ["bench", "speed"] or argv[0] == "dashboard":
        return argv
    defaults = [flag for flag, key in (("--data", "data"), ("--db", "db"))
                if flag not in argv and argv[:2] != ["bench", "nb201-zero-cost"]]
    return argv + [x for flag in defaults for x in (flag, places[flag[2:]])]


def run(argv: list[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``nas argv`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def sha256(path: Path) -> str:
    """Of the SQLite file and its write-ahead log (where a commit lands first)."""
    wal = path.with_name(path.name + "-wal")
    return hashlib.sha256(path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
                          ).hexdigest()


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NAS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        return prepare(tmp_path_factory.mktemp("bad-input"))


@pytest.mark.parametrize(("case", "message"), CASES, ids=[c for c, _ in CASES])
def test_bad_input_exits_2_with_one_line_and_leaves_the_database_unchanged(
        places, case, message):
    db_file = Path(places["db"].removeprefix("sqlite:///"))
    before = sha256(db_file)
    status, out, err = run(command_line(case, places))
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1 and message.format(**places) in lines[0], err
    assert "Traceback" not in out + err
    assert sha256(db_file) == before


@pytest.mark.parametrize(("value", "message"), [
    ("notaurl", "$NAS_DB='notaurl' is not a database URL"),
    ("mysql://user@host/db", "$NAS_DB='mysql://user@host/db': backend 'mysql' is not supported"),
])
def test_bad_nas_db_is_named_like_a_bad_flag(places, monkeypatch, value, message):
    """$NAS_DB stands in for --db, so it is checked like the flag, before any work."""
    monkeypatch.setenv("NAS_DB", value)
    status, out, err = run(["data", "--data", places["data"]])
    assert status == 2, err
    assert err.strip().startswith(f"nas data: error: {message}")
    assert "Traceback" not in out + err


@pytest.fixture
def broken_build(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(nas.cli.data.api, "build_proxy", explode)


def test_internal_error_is_one_line_with_exit_1_and_debug_shows_the_traceback(
        places, broken_build, capsys):
    argv = ["proxy", "--ipc", "2", "--data", places["data"], "--db", places["db"]]
    status, out, err = run(argv)
    assert status == 1
    assert err.strip() == ("nas proxy: internal error: RuntimeError: disk on fire; rerun with "
                           "--debug for the traceback")
    with pytest.raises(RuntimeError, match="disk on fire"):
        run(["--debug", *argv])
    with pytest.raises(RuntimeError, match="disk on fire"):
        run([*argv, "--debug"])


@pytest.mark.parametrize("bug", [KeyError("scores"), ValueError("math domain error")],
                         ids=["KeyError", "ValueError"])
def test_a_bug_is_an_internal_error_not_bad_input(places, monkeypatch, bug):
    """Only the toolkit's own error types are bad input: a bare KeyError or ValueError from
    the code is a bug, told as one line with exit 1, and as its traceback under --debug."""
    def fail(*args, **kwargs):
        raise bug

    monkeypatch.setattr(nas.cli.data.api, "build_proxy", fail)
    argv = ["proxy", "--ipc", "2", "--data", places["data"], "--db", places["db"]]
    status, out, err = run(argv)
    assert status == 1
    assert err.strip() == (f"nas proxy: internal error: {type(bug).__name__}: {bug}; rerun "
                           "with --debug for the traceback")
    for debug in (["--debug", *argv], [*argv, "--debug"]):
        with pytest.raises(type(bug)) as raised:
            run(debug)
        assert raised.value is bug


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every (command path, parser) of the ``nas`` command line."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*path, name))


def test_every_command_accepts_debug_before_and_after_it():
    parsers = list(_parsers(build_parser()))
    assert len(parsers) > len(COMMANDS)  # the walk reached nested commands (nas bench ...)
    for path, parser in parsers:
        assert "--debug" in parser._option_string_actions, path
    args = build_parser().parse_args(["bench", "frontier", "--recipes", "a", "--debug"])
    assert args.debug and args.recipes == ["a"]
    assert build_parser().parse_args(["--debug", "bench", "speed"]).debug


def test_help_exits_0(capsys):
    assert main(["search", "--help"]) == 0
    assert "--debug" in capsys.readouterr().out
