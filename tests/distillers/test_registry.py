"""The distiller registry: one entry per method, resolved by name or by artifact kind, and
stored artifacts pinned by hash."""

import pytest

from nas import api
from nas.cli import main
from nas.core.data import DataConfig
from nas.distillers import distiller_of, get_distiller, list_distillers
from nas.errors import UnknownNameError
from proxies import get_proxy, list_proxies
from proxies.artifacts import D2M_GENERATOR, D3_PRIORS, GAN_GENERATOR, MADE_BY
from proxies.d3.distill import D3Config
from storage import Database, list_proxy_records
from tests.datasets import write_image_folder

TINY_D3 = D3Config(iterations=2, latent_dim=4, decoder_width=4, real_per_class=4,
                   syn_per_class=2, pool=("w32-relu-instance-avg",), trajectory=False)


def test_every_consumed_artifact_kind_has_one_distiller_and_one_making_command():
    consumed = {get_proxy(m).consumes for m in list_proxies()} - {None}
    assert consumed == {D2M_GENERATOR, D3_PRIORS}
    for kind in (*consumed, GAN_GENERATOR):
        assert distiller_of(kind).kind == kind and kind in MADE_BY
    assert distiller_of(D2M_GENERATOR).refines == GAN_GENERATOR
    assert set(list_distillers()) == {"gan", "d2m", "d3", "dm", "dsa", "datadam"}
    assert get_distiller("dm").needs_ipc and get_distiller("dm").kind is None


def test_unknown_distiller_names_the_registered_ones():
    with pytest.raises(UnknownNameError, match="available: d2m, d3, datadam, dm, dsa, gan"):
        get_distiller("cafe")


@pytest.fixture
def two_d3_artifacts(tmp_path):
    root = write_image_folder(tmp_path / "data", n_train=12)
    data = api.load_data(DataConfig(path=str(root), val_fraction=0.0))
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    db = Database(url)
    dataset = api.register_dataset(db, data)
    first, second = (get_distiller("d3").distil(db, data, dataset, TINY_D3, seed=s,
                                                 progress=False) for s in (0, 1))
    assert first.artifact_hash != second.artifact_hash
    return db, data, dataset, first, second, root, url


def test_artifact_pins_the_stored_artifact_a_proxy_samples_from(two_d3_artifacts):
    db, data, dataset, first, second, _, _ = two_d3_artifacts
    newest = api.build_proxy(db, data, dataset, "d3", ipc=1)
    pinned = api.build_proxy(db, data, dataset, "d3", ipc=1, artifact=first.artifact_hash[:8])
    assert newest.params["artifact"] == second.artifact_hash
    assert pinned.params["artifact"] == first.artifact_hash
    with pytest.raises(ValueError, match="no d3-priors with hash 'ffffffff'"):
        api.build_proxy(db, data, dataset, "d3", ipc=1, artifact="ffffffff")


def test_proxy_command_pins_an_artifact_and_refuses_one_for_a_real_subset(two_d3_artifacts,
                                                                          capsys):
    db, _, _, first, _, root, url = two_d3_artifacts
    flags = ["--data", str(root), "--val-fraction", "0", "--db", url, "--threads", "1"]
    assert main(["proxy", "--method", "d3", "--ipc", "2", "--artifact",
                 first.artifact_hash[:10], *flags]) == 0
    (pinned,) = [p for p in list_proxy_records(db) if p.method == "d3" and p.ipc == 2]
    assert pinned.params["artifact"] == first.artifact_hash
    before = len(list_proxy_records(db))
    assert main(["proxy", "--method", "random", "--artifact", "abc", *flags]) == 2
    assert "samples from no stored artifact" in capsys.readouterr().err
    assert len(list_proxy_records(db)) == before
