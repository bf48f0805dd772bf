"""D2M's latent bank: z drawn from a cvae encoder's posteriors of real training images."""

from pathlib import Path

import pytest
import torch

from nas import api
from nas.core.data import DataConfig
from nas.distillers import distiller_of
from nas.errors import InputError
from proxies.d2m.checkpoint import load_generator, save_generator
from proxies.d2m.distill import D2MConfig
from proxies.d2m.generator import Generator, GeneratorConfig
from proxies.d2m.images import uint8_to_unit
from proxies.d2m.pretrain import Encoder, PretrainConfig, posterior_generator
from storage import Database
from tests.datasets import tiny_project, write_image_folder


def _banked(latents: int = 6) -> Generator:
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(num_classes=3, im_size=8, z_dim=4, width=2, embed_dim=4,
                                  latents=latents))
    means = torch.arange(latents, dtype=torch.float32)[:, None].repeat(1, 4) * 10
    labels = torch.tensor([0, 1, 0, 1, 0, 1])[:latents]  # class 2 has no entry
    g.set_latent_bank(means, torch.full((latents, 4), 1e-4), labels)
    return g.eval()


def test_without_a_bank_latents_are_the_prior_stream():
    g = Generator(GeneratorConfig(num_classes=3, im_size=8, z_dim=4, width=2, embed_dim=4))
    labels = torch.tensor([0, 2, 1, 1])
    z = g.sample_latents(labels, torch.Generator().manual_seed(7))
    assert torch.equal(z, torch.randn(4, 4, generator=torch.Generator().manual_seed(7)))


def test_bank_latents_come_from_entries_of_the_requested_class():
    g = _banked()
    labels = torch.tensor([0] * 50 + [1] * 50)
    z = g.sample_latents(labels, torch.Generator().manual_seed(0))
    entry = (z[:, 0] / 10).round().long()  # entry i has mean 10 * i, std ~0
    assert torch.allclose(z, entry[:, None].float().repeat(1, 4) * 10, atol=0.01)
    assert set(entry[:50].tolist()) == {0, 2, 4}  # every class-0 entry, only those
    assert set(entry[50:].tolist()) == {1, 3, 5}
    again = g.sample_latents(labels, torch.Generator().manual_seed(0))
    other = g.sample_latents(labels, torch.Generator().manual_seed(1))
    assert torch.equal(z, again) and not torch.equal(entry, (other[:, 0] / 10).round().long())


def test_a_class_without_entries_falls_back_to_the_prior():
    z = _banked().sample_latents(torch.tensor([2] * 200), torch.Generator().manual_seed(0))
    assert abs(float(z.mean())) < 0.2 and 0.8 < float(z.std()) < 1.2


def test_configs_without_a_bank_keep_their_keys():
    assert "latents" not in GeneratorConfig(num_classes=2).to_dict()
    assert GeneratorConfig(num_classes=2, latents=5).to_dict()["latents"] == 5
    assert "latents" not in D2MConfig().to_dict()
    assert D2MConfig(latents="posterior").to_dict()["latents"] == "posterior"
    with pytest.raises(InputError):
        D2MConfig(latents="nope")


def test_the_bank_is_saved_with_the_generator(tmp_path):
    g = _banked()
    save_generator(g, tmp_path / "g.pt", {})
    loaded = load_generator(tmp_path / "g.pt")
    assert torch.equal(loaded.latent_mean, g.latent_mean)
    assert torch.equal(loaded.latent_labels, g.latent_labels)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    db, data, dataset = tiny_project(tmp_path_factory.mktemp("bank"), val_fraction=0.0)
    pretrained = distiller_of("gan-generator").distil(
        db, data, dataset, PretrainConfig(generator="cvae", iterations=3, batch_size=8,
                                          checkpoint_every=3, ema_start=0,
                                          standing_batches=1),
        seed=0, progress=False, width=4)
    return db, data, dataset, pretrained


def test_posterior_generator_banks_every_training_image_with_the_encoders_posterior(project):
    _, data, _, pretrained = project
    checkpoint = Path(pretrained.params["workdir"]) / "checkpoint.pt"
    g = posterior_generator(checkpoint, data.train_images, data.train_labels, seed=0)
    assert g.config.latents == len(data.train_labels)
    blob = torch.load(checkpoint, weights_only=True)
    encoder = Encoder(GeneratorConfig(**blob["config"]))
    encoder.load_state_dict(blob["encoder"])
    with torch.no_grad():
        mean, log_var = encoder.eval()(uint8_to_unit(data.train_images), data.train_labels)
    assert torch.allclose(g.latent_mean, mean, atol=1e-5)
    assert torch.allclose(g.latent_std, (0.5 * log_var).exp(), atol=1e-5)
    assert torch.equal(g.latent_labels, data.train_labels)
    decoder = {k: v for k, v in g.state_dict().items() if k in blob["g"]}
    assert all(torch.equal(v, blob["g"][k]) for k, v in decoder.items()
               if "running" not in k and "num_batches" not in k)  # not the EMA's weights


def test_posterior_d2m_distils_and_feeds_both_d2m_proxies(project):
    db, data, dataset, _ = project
    distilled = distiller_of("d2m-generator").distil(
        db, data, dataset, D2MConfig(iterations=2, batch_real=8, pool_width=32,
                                     checkpoint_every=2, latents="posterior"),
        seed=0, progress=False)
    assert load_generator(distilled.artifact_path).config.latents == len(data.train_labels)
    for method in ("d2m", "d2m-fly"):
        proxy = api.build_proxy(db, data, dataset, method, ipc=2, seed=0,
                                artifact=distilled.artifact_hash)
        images = api.load_proxy_set(proxy).images
        assert images.shape[0] == 2 * data.num_classes and torch.isfinite(images).all()


def test_posterior_latents_refuse_a_gan_generator(tmp_path):
    data = api.load_data(DataConfig(path=str(write_image_folder(tmp_path / "data", n_train=8)),
                                    val_fraction=0.0))
    db = Database(f"sqlite:///{tmp_path / 'nas.db'}")
    dataset = api.register_dataset(db, data)
    distiller_of("gan-generator").distil(
        db, data, dataset, PretrainConfig(generator="biggan", iterations=2, batch_size=8,
                                          d_steps=1, checkpoint_every=2, ema_start=0,
                                          standing_batches=1), seed=0, progress=False, width=4)
    with pytest.raises(InputError, match="cvae"):
        distiller_of("d2m-generator").distil(
            db, data, dataset, D2MConfig(iterations=2, batch_real=8, latents="posterior"),
            seed=0, progress=False)


def test_entry_latents_sample_the_named_entries_gaussians():
    g = _banked()
    g.latent_std.fill_(2.0)
    entries = torch.tensor([5, 0, 3])
    z = g.entry_latents(entries, torch.Generator().manual_seed(3))
    noise = torch.randn(3, 4, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(z, entries[:, None].float() * 10 + 2.0 * noise)
