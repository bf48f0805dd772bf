"""Generator/discriminator shapes, conditioning, checkpoints and pre-training resume."""

import pytest
import torch
from torch import nn

from proxies.d2m.checkpoint import load_generator, save_generator, standing_stats
from proxies.d2m.generate import generate
from proxies.d2m.generator import Discriminator, Generator, GeneratorConfig
from proxies.d2m.pretrain import (
    GENERATORS,
    ConditionalVae,
    PretrainConfig,
    pretrain,
    vae_loss,
)


@pytest.mark.parametrize("size", [16, 32])
def test_generator_makes_images_in_unit_range_and_discriminator_scores_each(size):
    cfg = GeneratorConfig(num_classes=3, im_size=size, width=4)
    z, y = torch.randn(5, cfg.z_dim), torch.tensor([0, 1, 2, 0, 1])
    images = Generator(cfg)(z, y)
    assert images.shape == (5, 3, size, size)
    assert images.abs().max() <= 1
    assert Discriminator(cfg)(images, y).shape == (5,)


def test_discriminator_layers_are_spectrally_normalised():
    d = Discriminator(GeneratorConfig(num_classes=2, im_size=16, width=4))
    weighted = [m for m in d.modules() if isinstance(m, nn.Conv2d | nn.Linear | nn.Embedding)]
    assert weighted and all(hasattr(m, "weight_orig") for m in weighted)


def test_generator_output_depends_on_the_class():
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(num_classes=2, im_size=16, width=4))
    nn.init.normal_(g.blocks[0].bn1.gain.weight)  # CBN starts at identity; perturb it
    nn.init.normal_(g.embed.weight)
    z = torch.randn(1, g.config.z_dim).repeat(2, 1)
    out = g.eval()(z, torch.tensor([0, 1]))
    assert not torch.allclose(out[0], out[1])


def test_generator_config_rejects_sizes_that_are_not_powers_of_two():
    with pytest.raises(ValueError, match="power of two"):
        GeneratorConfig(num_classes=2, im_size=24)


def test_saved_generator_loads_with_same_outputs_and_bad_files_fail_clearly(tmp_path):
    g = Generator(GeneratorConfig(num_classes=2, im_size=16, width=4))
    standing_stats(g, batches=2, batch_size=8, rng=torch.Generator().manual_seed(0))
    save_generator(g, tmp_path / "g.pt", {})
    loaded = load_generator(tmp_path / "g.pt")
    assert torch.equal(generate(g, 2, seed=3)[0], generate(loaded, 2, seed=3)[0])
    torch.save({"weights": 1}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a generator file"):
        load_generator(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="does not exist"):
        load_generator(tmp_path / "missing.pt")


def test_generated_images_do_not_depend_on_batching():
    g = Generator(GeneratorConfig(num_classes=2, im_size=16, width=4))
    standing_stats(g, batches=2, batch_size=8, rng=torch.Generator().manual_seed(0))
    whole, labels = generate(g, 5, seed=1)
    chunked, _ = generate(g, 5, seed=1, batch_size=3)
    assert torch.allclose(whole, chunked, atol=1e-6)
    assert labels.tolist() == [0] * 5 + [1] * 5


class _Stop(Exception):
    pass


@pytest.mark.parametrize("family", GENERATORS)
def test_interrupted_pretraining_resumes_to_the_same_weights(tmp_path, family):
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (20, 3, 16, 16), generator=gen, dtype=torch.uint8)
    labels = torch.arange(20) % 2
    cfg = GeneratorConfig(num_classes=2, im_size=16, width=4)
    train = PretrainConfig(generator=family, iterations=4, batch_size=6, d_steps=1,
                           checkpoint_every=2, ema_start=1, ema_decay=0.5, standing_batches=2)
    whole = pretrain(images, labels, cfg, train, seed=5, workdir=tmp_path / "a", progress=False)

    def stop(iteration):
        raise _Stop

    with pytest.raises(_Stop):
        pretrain(images, labels, cfg, train, seed=5, workdir=tmp_path / "b", progress=False,
                 on_checkpoint=stop)
    resumed = pretrain(images, labels, cfg, train, seed=5, workdir=tmp_path / "b",
                       progress=False)
    assert (whole.resumed_from, resumed.resumed_from) == (0, 2)
    assert list((tmp_path / "b").glob("samples-*.png"))
    a = torch.load(whole.generator_path, weights_only=True)["state_dict"]
    b = torch.load(resumed.generator_path, weights_only=True)["state_dict"]
    assert all(torch.allclose(a[k].float(), b[k].float()) for k in a)


def test_vae_loss_is_the_summed_squared_error_plus_the_gaussian_kl():
    gen = torch.Generator().manual_seed(0)
    real, recon = torch.rand(3, 2, 4, 4, generator=gen), torch.rand(3, 2, 4, 4, generator=gen)
    mean, log_var = torch.randn(3, 5, generator=gen), torch.randn(3, 5, generator=gen)
    recon_err, kl = vae_loss(real, recon, mean, log_var, kl_weight=1.0)
    assert recon_err.item() == pytest.approx(float(((recon - real) ** 2).sum() / 3), rel=1e-6)
    q = torch.distributions.Normal(mean, (0.5 * log_var).exp())
    p = torch.distributions.Normal(torch.zeros(5), torch.ones(5))
    expected = torch.distributions.kl_divergence(q, p).sum(1).mean()
    assert kl.item() == pytest.approx(expected.item(), rel=1e-5)


def _fixed_batch(cfg: GeneratorConfig):
    gen = torch.Generator().manual_seed(1)
    real = torch.rand(8, 3, 16, 16, generator=gen) * 2 - 1
    y, noise = torch.arange(8) % 2, torch.randn(8, cfg.z_dim, generator=gen)
    return lambda: (real, y, noise, y)


def _vae_loss_on(vae: ConditionalVae, batch) -> float:
    real, y, noise, _ = batch()
    with torch.no_grad():
        mean, log_var = vae.encoder(real, y)
        recon = vae.g(mean + (0.5 * log_var).exp() * noise, y)
        recon_err, kl = vae_loss(real, recon, mean, log_var, vae.kl_weight)
    return float(recon_err + vae.kl_weight * kl)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cvae_steps_lower_its_loss_and_a_flipped_gradient_raises_it(sign):
    cfg = GeneratorConfig(num_classes=2, im_size=16, width=4)
    vae = ConditionalVae(cfg, PretrainConfig(generator="cvae", lr_g=1e-3), torch.device("cpu"),
                         seed=0)
    batch = _fixed_batch(cfg)
    before = _vae_loss_on(vae, batch)
    if sign < 0:  # gradient ascent: every gradient negated before the optimiser step
        for p in [*vae.g.parameters(), *vae.encoder.parameters()]:
            p.register_hook(lambda grad: -grad)
    for _ in range(5):
        vae.step(batch, torch.Generator().manual_seed(0))
    after = _vae_loss_on(vae, batch)
    assert (after < before) if sign > 0 else (after > before)


def test_unknown_generator_family_is_refused():
    with pytest.raises(ValueError, match="unknown generator family 'stylegan'"):
        PretrainConfig(generator="stylegan")
