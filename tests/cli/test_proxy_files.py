"""``nas proxy import`` and ``export`` as a new user types them: a dataset-condensation
result imported, searched and reported on; a name never silently reused."""

from __future__ import annotations

import contextlib
import io
import json

import torch

from nas.cli import main
from proxies.imported import DC_CIFAR10
from tests.cli.test_bad_input import sha256
from tests.datasets import class_images, write_dc_result, write_image_folder

ARCHS = ["d1-w32-relu-none-avg", "d2-w32-relu-none-avg", "d1-w64-relu-none-avg"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([*argv, "--threads", "1"])
    return status, out.getvalue(), err.getvalue()


def dc_result(path, seed: int):
    """Three images per class standardised with the CIFAR-10 constants, as DC saves them."""
    pixels, labels = class_images(3, 16, seed)
    unit = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
    images = (unit - torch.tensor(DC_CIFAR10[0]).view(1, 3, 1, 1)) \
        / torch.tensor(DC_CIFAR10[1]).view(1, 3, 1, 1)
    return write_dc_result(path, [(images, torch.from_numpy(labels))])


def test_import_search_and_report_an_imported_set(tmp_path):
    data = str(write_image_folder(tmp_path / "data"))
    flags = ["--data", data, "--db", f"sqlite:///{tmp_path / 'nas.db'}"]
    res = dc_result(tmp_path / "res_DM_CIFAR10_ConvNet_3ipc.pt", seed=5)
    status, out, err = run("proxy", "import", str(res), "--name", "dm-authors",
                           "--values", "cifar10-standardized", *flags)
    assert status == 0, err
    assert "imported" in out and "dm-authors-ipc3" in out
    status, _, err = run("search", "--proxy", "dm-authors", "--archs", *ARCHS, "--epochs", "1",
                         "--workers", "1", *flags)
    assert status == 0, err
    assert run("ground-truth", "--epochs", "1", "--workers", "1", *flags)[0] == 0
    status, _, err = run("report", "--out", str(tmp_path / "report"), *flags)
    assert status == 0, err
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    row = next(r for r in report["rows"] if r["name"] == "dm-authors-ipc3")
    assert row["options"]["imported"]["format"] == "dc-result"
    assert row["options"]["imported"]["values"] == "cifar10-standardized"
    assert sorted(a["arch_id"] for a in row["architectures"]) == sorted(ARCHS)

    # the name holds that set: another file under it is refused, the database untouched
    other = dc_result(tmp_path / "res_other.pt", seed=6)
    before = sha256(tmp_path / "nas.db")
    status, _, err = run("proxy", "import", str(other), "--name", "dm-authors",
                         "--values", "cifar10-standardized", *flags)
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "'dm-authors' already holds the set imported from" in err
    assert sha256(tmp_path / "nas.db") == before

    # and exports back to the layout it came in, same tensors
    status, _, err = run("proxy", "export", "dm-authors", str(tmp_path / "back.pt"),
                         "--values", "cifar10-standardized", *flags)
    assert status == 0, err
    back = torch.load(tmp_path / "back.pt", weights_only=True)["data"][0]
    sent = torch.load(res, weights_only=False)["data"][0]
    assert torch.equal(back[1], sent[1])
    assert torch.allclose(back[0], sent[0], atol=1e-5)


def test_searching_an_unknown_set_on_a_new_database_creates_nothing(tmp_path):
    status, _, err = run("search", "--proxy", "not-imported", "--data",
                         str(write_image_folder(tmp_path / "data")), "--db",
                         f"sqlite:///{tmp_path / 'nas.db'}")
    assert status == 2 and "'not-imported', nor a set imported under that name" in err
    assert not (tmp_path / "nas.db").exists()
