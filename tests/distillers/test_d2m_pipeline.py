"""End to end on a tiny written dataset: pretrain -> distill -> IPC 1/10/50 from one artifact."""

from pathlib import Path

import pytest
import torch

from nas import api
from nas.cli import main
from nas.core.data import DataConfig
from proxies import get_proxy
from proxies.base import file_hash
from storage import Database, list_datasets, list_proxy_records
from tests.datasets import write_image_folder

TWO = ("red", "green")  # 2 of the tiny dataset's classes
TINY_PRETRAIN = ["--width", "4", "--iterations", "4", "--batch-size", "8", "--d-steps", "1",
                 "--checkpoint-every", "2", "--ema-start", "0", "--standing-batches", "2"]
TINY_D2M = ["--iterations", "3", "--batch-real", "16", "--pool-width", "32",
            "--checkpoint-every", "2"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("d2m")
    data = write_image_folder(root / "data", n_train=24, n_test=8)
    common = ["--data", str(data), "--classes", *TWO, "--db", f"sqlite:///{root / 'nas.db'}",
              "--threads", "1"]
    return root, data, common


def _rows(root: Path, method: str):
    db = Database(f"sqlite:///{root / 'nas.db'}")
    return [p for d in list_datasets(db) for p in list_proxy_records(db, d.id)
            if p.method == method]


@pytest.mark.slow
def test_pretrain_distill_and_generate_any_ipc_from_one_artifact(project, capsys):
    root, data, common = project
    assert main(["pretrain", *TINY_PRETRAIN, *common]) == 0
    (pretrained,) = _rows(root, "gan-generator")
    assert file_hash(Path(pretrained.artifact_path)) == pretrained.artifact_hash
    assert list(Path(pretrained.params["workdir"]).glob("samples-*.png"))

    assert main(["distill", "--method", "d2m", *TINY_D2M, *common]) == 0
    (distilled,) = _rows(root, "d2m-generator")
    assert distilled.params["base"] == pretrained.artifact_hash
    assert distilled.build_seconds > 0 and distilled.device
    assert distilled.artifact_hash != pretrained.artifact_hash  # refined, not copied
    generator_file = Path(distilled.artifact_path)
    before = (file_hash(generator_file), generator_file.stat().st_mtime_ns)

    for ipc in (1, 10, 50):
        assert main(["proxy", "--method", "d2m", "--ipc", str(ipc), *common]) == 0
    sets = {p.ipc: api.load_proxy_set(p) for p in _rows(root, "d2m")}
    assert sorted(sets) == [1, 10, 50]
    for ipc, proxy_set in sets.items():
        assert proxy_set.images.shape == (2 * ipc, 3, 16, 16)
        assert proxy_set.images.dtype == torch.float32
        assert torch.bincount(proxy_set.labels).tolist() == [ipc, ipc]
        assert torch.isfinite(proxy_set.images).all()
    # no further training: one distilled generator, untouched
    assert len(_rows(root, "d2m-generator")) == 1
    assert (file_hash(generator_file), generator_file.stat().st_mtime_ns) == before

    assert main(["proxy", "list", "--db", common[common.index("--db") + 1]]) == 0
    assert "d2m-generator" in capsys.readouterr().out


@pytest.mark.slow
def test_d2m_sets_are_deterministic_in_the_seed(project):
    root, data, common = project
    (distilled,) = _rows(root, "d2m-generator")
    prepared = api.load_data(DataConfig(path=str(data), classes=TWO))
    build = get_proxy("d2m").build
    kwargs = dict(ipc=3, options={"artifact": distilled.artifact_hash},
                  artifacts_dir=root / "artifacts")
    a, b = build(prepared, seed=4, **kwargs), build(prepared, seed=4, **kwargs)
    c = build(prepared, seed=5, **kwargs)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


@pytest.mark.slow
def test_search_trains_on_the_d2m_proxy(project):
    root, data, common = project
    assert main(["search", "--proxy", "d2m", "--ipc", "1", "--archs",
                 "d1-w32-relu-instance-avg", "--epochs", "1", *common]) == 0


def test_d2m_without_a_distilled_generator_names_the_whole_path(tmp_path, capsys):
    data = write_image_folder(tmp_path / "data", n_train=4, n_test=2)
    common = ["--data", str(data), "--classes", *TWO, "--db", f"sqlite:///{tmp_path / 'nas.db'}"]
    for command in (["proxy", "--method", "d2m", "--ipc", "1"],
                    ["search", "--proxy", "d2m-fly", "--space", "convnet720"]):
        assert main([*command, *common]) == 2
        (err,) = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
        assert 0 <= err.index("nas pretrain") < err.index("nas distill --method d2m")
        assert "CPU-minute" in err
    assert main(["distill", "--method", "d2m", *common]) == 2
    assert "nas pretrain" in capsys.readouterr().err
    assert main(["pretrain", "--from-checkpoint", str(tmp_path / "none.pt"), *common]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not _rows(tmp_path, "gan-generator")


def test_distill_rejects_bad_hyper_parameters_before_touching_the_database(tmp_path, capsys):
    data = write_image_folder(tmp_path / "data", n_train=4, n_test=2)
    common = ["--data", str(data), "--classes", *TWO, "--db", f"sqlite:///{tmp_path / 'nas.db'}"]
    assert main(["distill", "--method", "d2m", "--no-embedding", "--no-prediction",
                 *common]) == 2
    assert "at least one" in capsys.readouterr().err
    assert not (tmp_path / "nas.db").exists()


@pytest.mark.slow
def test_cvae_generator_pretrains_distils_and_generates_like_the_gan(tmp_path):
    data = write_image_folder(tmp_path / "data", n_train=24, n_test=8)
    common = ["--data", str(data), "--classes", *TWO, "--db", f"sqlite:///{tmp_path / 'nas.db'}",
              "--threads", "1"]
    assert main(["pretrain", "--generator", "cvae", *TINY_PRETRAIN, *common]) == 0
    (pretrained,) = _rows(tmp_path, "gan-generator")
    assert pretrained.params["pretrain"]["generator"] == "cvae"
    assert list(Path(pretrained.params["workdir"]).glob("samples-*.png"))
    assert main(["distill", "--method", "d2m", *TINY_D2M, "--ipc", "3", *common]) == 0
    (distilled,) = _rows(tmp_path, "d2m-generator")
    assert distilled.params["base"] == pretrained.artifact_hash
    (proxy,) = _rows(tmp_path, "d2m")
    proxy_set = api.load_proxy_set(proxy)
    assert torch.bincount(proxy_set.labels).tolist() == [3, 3]
    assert torch.isfinite(proxy_set.images).all()


def test_pretrain_refuses_an_unknown_generator_family_before_the_database(tmp_path, capsys):
    data = write_image_folder(tmp_path / "data", n_train=4, n_test=2)
    common = ["--data", str(data), "--classes", *TWO, "--db", f"sqlite:///{tmp_path / 'nas.db'}"]
    assert main(["pretrain", "--generator", "stylegan", *common]) == 2
    assert "unknown generator family 'stylegan'; choose from biggan, cvae" in \
        capsys.readouterr().err
    assert not (tmp_path / "nas.db").exists()
