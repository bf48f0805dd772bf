"""Pre-training of the class-conditional generator D2M refines, in one of two families.

D2M refines a *pre-trained* generator (paper Sec. 3, "Pre-training stage"; BigGAN with its
default recipe, Sec. 4.1; App. Table 13 also distils a conditional GAN, StyleGAN-XL and a
conditional VAE). No pre-trained weights can be downloaded here, so this module trains one:

- ``biggan``: the BigGAN-style generator against a projection discriminator, hinge loss,
  DiffAugment on every batch the discriminator sees (the paper's default family);
- ``cvae``: a conditional VAE (Kingma & Welling 2014; Sohn et al. 2015) whose decoder is the
  same generator network, trained with an encoder to reconstruct real images (squared error
  summed over pixels, plus ``kl_weight`` times the KL divergence to N(0, I)). No
  discriminator: one step per iteration instead of ``d_steps + 1``.

Both produce the same artifact (a ``Generator`` file), so D2M distillation and generation of
any IPC work on either. A work directory holds ``checkpoint.pt`` (resumed automatically) and
PNG sample grids; the result is a generator file with the EMA weights and standing statistics.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from nas.core.augment import DSA, DSAConfig
from nas.errors import InputError
from proxies.d2m.checkpoint import atomic_save, ema_update, save_generator, standing_stats
from proxies.d2m.generator import Discriminator, Generator, GeneratorConfig
from proxies.d2m.images import save_grid, uint8_to_unit

GENERATORS = ("biggan", "cvae")  # generator families (see the module docstring)


@dataclass(frozen=True)
class PretrainConfig:
    """Pre-training recipe. The family defaults to cvae, the better one after D2M at a CPU
    budget (benchmarks/results/README.md, generator families); the other defaults follow
    BigGAN-PyTorch's CIFAR script (launch_cifar_ema). The cvae family uses ``lr_g`` and the
    betas for its encoder and decoder, and ignores the discriminator's fields (``d_steps``,
    ``lr_d``, ``diffaugment``)."""

    generator: str = "cvae"  # family: "cvae" (conditional VAE) or "biggan" (hinge GAN)
    iterations: int = 50_000  # generator steps; BigGAN CIFAR runs 500 epochs (~500k steps)
    batch_size: int = 50  # BigGAN CIFAR batch size
    d_steps: int = 4  # discriminator steps per generator step (BigGAN CIFAR)
    lr_g: float = 2e-4  # BigGAN CIFAR G_lr
    lr_d: float = 2e-4  # BigGAN CIFAR D_lr
    beta1: float = 0.0  # Adam betas (0, 0.999) in BigGAN
    beta2: float = 0.999
    ema_decay: float = 0.9999  # BigGAN ema_decay
    ema_start: int = 1000  # BigGAN CIFAR ema_start; before it the EMA copies G
    diffaugment: str = "color_crop_cutout"  # DiffAugment policy color,translation,cutout
    # (Zhao et al. 2020), all applied to every real and fake batch D sees
    checkpoint_every: int = 500  # iterations between checkpoints and sample grids
    standing_batches: int = 16  # batches for BigGAN standing statistics at export
    kl_weight: float = 1.0  # cvae: weight of the KL term (1 = the plain VAE's evidence bound)

    def __post_init__(self) -> None:
        if self.generator not in GENERATORS:
            raise InputError(f"unknown generator family {self.generator!r}; choose from "
                             f"{', '.join(GENERATORS)}")
        if not self.kl_weight > 0:
            raise InputError(f"--kl-weight must be positive, got {self.kl_weight}")
        for name in ("iterations", "batch_size", "d_steps", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise InputError(f"pretrain {name} must be at least 1, got {getattr(self, name)}")
        if not (self.lr_g > 0 and self.lr_d > 0):
            raise InputError(f"--lr-g and --lr-d must be positive, got {self.lr_g} and "
                             f"{self.lr_d}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise InputError(f"Adam betas must be in [0, 1), got {self.beta1} and {self.beta2}")
        if self.ema_start < 0 or self.standing_batches < 0:
            raise InputError("--ema-start and --standing-batches must be >= 0")
        if not 0 <= self.ema_decay < 1:
            raise InputError(f"ema_decay must be in [0, 1), got {self.ema_decay}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PretrainResult:
    generator_path: Path
    iterations: int
    wall_seconds: float  # summed over resumed sessions
    resumed_from: int  # iteration the last call started at (0 = fresh)


class DiffAugment:
    """Every family of ``policy`` applied in turn, parameters drawn per image (not siamese)."""

    def __init__(self, policy: str):
        self.steps = [DSA(DSAConfig(strategy=f)) for f in DSAConfig(strategy=policy).families]

    def __call__(self, x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        for step in self.steps:
            x = step.apply(x, step.sample(len(x), rng))
        return x


def hinge_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def hinge_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()


Batch = Callable[[], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]
CheckpointCallback = Callable[[int], None]


class HingeGan:
    """The biggan family: ``d_steps`` discriminator steps, then one generator step."""

    def __init__(self, gen_config: GeneratorConfig, config: PretrainConfig,
                 device: torch.device, seed: int):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.g = Generator(gen_config).to(device)
            self.d = Discriminator(gen_config).to(device)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=config.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=config.lr_d, betas=betas)
        self.augment, self.d_steps = DiffAugment(config.diffaugment), config.d_steps

    def state(self) -> dict:
        """What a checkpoint holds (modules and optimisers, by name)."""
        return {"g": self.g, "d": self.d, "opt_g": self.opt_g, "opt_d": self.opt_d}

    def step(self, batch: Batch, rng: torch.Generator) -> dict[str, float]:
        self.g.train()
        self.d.train()
        for _ in range(self.d_steps):
            real, real_y, z, y = batch()
            with torch.no_grad():
                fake = self.g(z, y)
            loss_d = hinge_d_loss(self.d(self.augment(real, rng), real_y),
                                  self.d(self.augment(fake, rng), y))
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        _, _, z, y = batch()
        loss_g = hinge_g_loss(self.d(self.augment(self.g(z, y), rng), y))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}


class Encoder(nn.Module):
    """``q(z | x, y)`` of the cvae family: strided convolutions down to 4x4, then the class
    embedding; returns the mean and log-variance of a diagonal Gaussian over z."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        ch = 4 * config.width
        layers: list[nn.Module] = [nn.Conv2d(config.channels, ch, 3, padding=1),
                                   nn.LeakyReLU(0.2)]
        for _ in range(config.blocks):  # im_size -> 4, halving each time
            layers += [nn.Conv2d(ch, ch, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.embed = nn.Embedding(config.num_classes, config.embed_dim)
        self.out = nn.Linear(ch * 16 + config.embed_dim, 2 * config.z_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.out(torch.cat([self.features(x), self.embed(y)], 1)).chunk(2, 1)
        return mean, log_var


def vae_loss(real: torch.Tensor, recon: torch.Tensor, mean: torch.Tensor,
             log_var: torch.Tensor, kl_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(squared error summed over each image's pixels, KL(q || N(0, I)) per image), both
    averaged over the batch; the loss is the first plus ``kl_weight`` times the second."""
    recon_err = (recon - real).pow(2).flatten(1).sum(1).mean()
    kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(1).mean()
    return recon_err, kl


class ConditionalVae:
    """The cvae family: the generator is the decoder ``p(x | z, y)``."""

    def __init__(self, gen_config: GeneratorConfig, config: PretrainConfig,
                 device: torch.device, seed: int):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.g = Generator(gen_config).to(device)
            self.encoder = Encoder(gen_config).to(device)
        self.opt = torch.optim.Adam([*self.g.parameters(), *self.encoder.parameters()],
                                    lr=config.lr_g, betas=(config.beta1, config.beta2))
        self.kl_weight = config.kl_weight

    def state(self) -> dict:
        return {"g": self.g, "encoder": self.encoder, "opt": self.opt}

    def step(self, batch: Batch, rng: torch.Generator) -> dict[str, float]:
        self.g.train()
        self.encoder.train()
        real, y, noise, _ = batch()
        mean, log_var = self.encoder(real, y)
        recon = self.g(mean + (0.5 * log_var).exp() * noise, y)  # reparameterised sample
        recon_err, kl = vae_loss(real, recon, mean, log_var, self.kl_weight)
        self.opt.zero_grad(set_to_none=True)
        (recon_err + self.kl_weight * kl).backward()
        self.opt.step()
        return {"recon": recon_err.item(), "kl": kl.item()}


FAMILIES = {"biggan": HingeGan, "cvae": ConditionalVae}


def pretrain(images: torch.Tensor, labels: torch.Tensor, gen_config: GeneratorConfig,
             config: PretrainConfig, *, seed: int, workdir: Path,
             device: torch.device | str = "cpu", progress: bool = True,
             on_checkpoint: CheckpointCallback | None = None, meta: dict | None = None
             ) -> PretrainResult:
    """Train the ``config.generator`` family on uint8 ``images`` (N, C, H, W) with int64
    ``labels``.

    Resumes from ``workdir/checkpoint.pt`` when present (same seed and configs give the same
    weights as an uninterrupted run on CPU). ``on_checkpoint(iteration)`` runs after each
    checkpoint is written (it may raise to stop). Returns the exported generator file
    ``workdir/generator.pt``; inputs are not mutated.

    Raises:
        ValueError: images do not match ``gen_config`` (size, channels, classes).
    """
    if tuple(images.shape[1:]) != (gen_config.channels, gen_config.im_size, gen_config.im_size):
        raise ValueError(f"images {tuple(images.shape[1:])} do not match the generator "
                         f"({gen_config.channels}, {gen_config.im_size}, {gen_config.im_size})")
    if int(labels.max()) >= gen_config.num_classes:
        raise ValueError("labels exceed the generator's number of classes")
    device = torch.device(device)
    rng = torch.Generator().manual_seed(seed)
    family = FAMILIES[config.generator](gen_config, config, device, seed)
    g_ema = copy.deepcopy(family.g).eval()
    ckpt_path = workdir / "checkpoint.pt"
    start_iter, wall = 0, 0.0
    if ckpt_path.is_file():
        blob = torch.load(ckpt_path, map_location=device, weights_only=True)
        for name, part in family.state().items():
            part.load_state_dict(blob[name])
        g_ema.load_state_dict(blob["g_ema"])
        rng.set_state(blob["rng"])
        start_iter, wall = blob["iteration"], blob["wall_seconds"]
    real_all = uint8_to_unit(images).to(device)
    labels = labels.to(device)
    n, k = len(labels), gen_config.num_classes

    def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        idx = torch.randint(n, (config.batch_size,), generator=rng).to(device)
        z = torch.randn(config.batch_size, gen_config.z_dim, generator=rng).to(device)
        y = torch.randint(k, (config.batch_size,), generator=rng).to(device)
        return real_all[idx], labels[idx], z, y

    def checkpoint(iteration: int, seconds: float) -> None:
        atomic_save({"config": gen_config.to_dict(), "pretrain": config.to_dict(),
                     "iteration": iteration, "wall_seconds": seconds,
                     **{name: part.state_dict() for name, part in family.state().items()},
                     "g_ema": g_ema.state_dict(), "rng": rng.get_state()}, ckpt_path)
        grid_z = torch.randn(8 * k, gen_config.z_dim,
                             generator=torch.Generator().manual_seed(0)).to(device)
        grid_y = torch.arange(k, device=device).repeat_interleave(8)
        with torch.no_grad():
            save_grid(g_ema.eval()(grid_z, grid_y), workdir / f"samples-{iteration:07d}.png",
                      nrow=8)

    bar = tqdm(range(start_iter, config.iterations), initial=start_iter,
               total=config.iterations, desc=f"{config.generator} pretrain", unit="it",
               disable=not progress)
    session_start = time.perf_counter()
    for it in bar:
        losses = family.step(batch, rng)
        ema_update(g_ema, family.g, 0.0 if it < config.ema_start else config.ema_decay)
        if (it + 1) % config.checkpoint_every == 0 or it + 1 == config.iterations:
            checkpoint(it + 1, wall + time.perf_counter() - session_start)
            if on_checkpoint:
                on_checkpoint(it + 1)
        bar.set_postfix({name: f"{value:.3f}" for name, value in losses.items()})
    wall += time.perf_counter() - session_start
    standing_stats(g_ema, batches=config.standing_batches, batch_size=config.batch_size,
                   rng=torch.Generator().manual_seed(seed + 1))
    out = workdir / "generator.pt"
    save_generator(g_ema, out, {**(meta or {}), "stage": "pretrain", "seed": seed,
                                "generator": config.generator, "pretrain": config.to_dict(),
                                "iterations": config.iterations, "wall_seconds": wall})
    return PretrainResult(out, config.iterations, wall, start_iter)


@torch.no_grad()
def posterior_generator(checkpoint: Path, images: torch.Tensor, labels: torch.Tensor, *,
                        seed: int, batch_size: int = 500) -> Generator:
    """The cvae decoder of a pre-training ``checkpoint`` with a latent bank: the encoder's
    posterior Gaussian of every one of ``images`` (uint8 (N, C, H, W)) with its label.

    The decoder is the one the encoder was trained with, not its EMA (whose decoding of the
    encoder's codes is several times worse after a short pre-training); its batch-norm
    statistics are re-estimated on bank samples. Returned on the CPU in eval mode.

    Raises:
        InputError: the checkpoint is missing or is not a cvae's.
    """
    if not checkpoint.is_file():
        raise InputError(f"latents=posterior needs the pre-training checkpoint {checkpoint}, "
                         "which is missing; pre-train the cvae here (`nas pretrain`)")
    blob = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if blob.get("pretrain", {}).get("generator") != "cvae" or "encoder" not in blob:
        raise InputError("latents=posterior needs a cvae generator (it has an encoder); "
                         "pre-train one with `nas pretrain --generator cvae`")
    base = GeneratorConfig(**blob["config"])
    encoder = Encoder(base)
    encoder.load_state_dict(blob["encoder"])
    encoder.eval()
    means, stds = [], []
    for start in range(0, len(labels), batch_size):
        mean, log_var = encoder(uint8_to_unit(images[start:start + batch_size]),
                                labels[start:start + batch_size])
        means.append(mean)
        stds.append((0.5 * log_var).exp())
    config = GeneratorConfig(**{**base.to_dict(), "latents": len(labels)})
    generator = Generator(config)
    keys = generator.load_state_dict(blob["g"], strict=False)
    if keys.unexpected_keys or {k for k in keys.missing_keys if not k.startswith("latent_")}:
        raise InputError(f"{checkpoint} does not hold this generator architecture")
    generator.set_latent_bank(torch.cat(means), torch.cat(stds), labels)
    pretrain_config = PretrainConfig(**blob["pretrain"])
    standing_stats(generator, batches=pretrain_config.standing_batches,
                   batch_size=pretrain_config.batch_size,
                   rng=torch.Generator().manual_seed(seed))
    return generator
