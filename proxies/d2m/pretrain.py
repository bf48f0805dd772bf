"""Class-conditional GAN pre-training: hinge loss, DiffAugment for D, EMA generator.

D2M refines a *pre-trained* generator (paper Sec. 3, "Pre-training stage"; BigGAN with its
default recipe, Sec. 4.1). No pre-trained weights can be downloaded here, so this module
trains one. A work directory holds ``checkpoint.pt`` (resumed automatically) and PNG sample
grids; the result is a generator file with the EMA weights and standing statistics.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from nas.core.augment import DSA, DSAConfig
from proxies.d2m.checkpoint import atomic_save, ema_update, save_generator, standing_stats
from proxies.d2m.generator import Discriminator, Generator, GeneratorConfig
from proxies.d2m.images import save_grid, uint8_to_unit


@dataclass(frozen=True)
class PretrainConfig:
    """GAN training recipe; defaults follow BigGAN-PyTorch's CIFAR script (launch_cifar_ema)."""

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

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size", "d_steps", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"pretrain {name} must be at least 1, got {getattr(self, name)}")
        if not (self.lr_g > 0 and self.lr_d > 0):
            raise ValueError(f"--lr-g and --lr-d must be positive, got {self.lr_g} and "
                             f"{self.lr_d}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"Adam betas must be in [0, 1), got {self.beta1} and {self.beta2}")
        if self.ema_start < 0 or self.standing_batches < 0:
            raise ValueError("--ema-start and --standing-batches must be >= 0")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")

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


CheckpointCallback = Callable[[int], None]


def pretrain(images: torch.Tensor, labels: torch.Tensor, gen_config: GeneratorConfig,
             config: PretrainConfig, *, seed: int, workdir: Path,
             device: torch.device | str = "cpu", progress: bool = True,
             on_checkpoint: CheckpointCallback | None = None, meta: dict | None = None
             ) -> PretrainResult:
    """Train a conditional GAN on uint8 ``images`` (N, C, H, W) with int64 ``labels``.

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
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g, d = Generator(gen_config).to(device), Discriminator(gen_config).to(device)
    g_ema = copy.deepcopy(g).eval()
    betas = (config.beta1, config.beta2)
    opt_g = torch.optim.Adam(g.parameters(), lr=config.lr_g, betas=betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=config.lr_d, betas=betas)
    augment = DiffAugment(config.diffaugment)
    ckpt_path = workdir / "checkpoint.pt"
    start_iter, wall = 0, 0.0
    if ckpt_path.is_file():
        blob = torch.load(ckpt_path, map_location=device, weights_only=True)
        g.load_state_dict(blob["g"])
        d.load_state_dict(blob["d"])
        g_ema.load_state_dict(blob["g_ema"])
        opt_g.load_state_dict(blob["opt_g"])
        opt_d.load_state_dict(blob["opt_d"])
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
                     "iteration": iteration, "wall_seconds": seconds, "g": g.state_dict(),
                     "d": d.state_dict(), "g_ema": g_ema.state_dict(),
                     "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                     "rng": rng.get_state()}, ckpt_path)
        grid_z = torch.randn(8 * k, gen_config.z_dim,
                             generator=torch.Generator().manual_seed(0)).to(device)
        grid_y = torch.arange(k, device=device).repeat_interleave(8)
        with torch.no_grad():
            save_grid(g_ema.eval()(grid_z, grid_y), workdir / f"samples-{iteration:07d}.png",
                      nrow=8)

    bar = tqdm(range(start_iter, config.iterations), initial=start_iter,
               total=config.iterations, desc="GAN pretrain", unit="it", disable=not progress)
    session_start = time.perf_counter()
    g.train()
    d.train()
    for it in bar:
        for _ in range(config.d_steps):
            real, real_y, z, y = batch()
            with torch.no_grad():
                fake = g(z, y)
            loss_d = hinge_d_loss(d(augment(real, rng), real_y), d(augment(fake, rng), y))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        _, _, z, y = batch()
        loss_g = hinge_g_loss(d(augment(g(z, y), rng), y))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        ema_update(g_ema, g, 0.0 if it < config.ema_start else config.ema_decay)
        if (it + 1) % config.checkpoint_every == 0 or it + 1 == config.iterations:
            checkpoint(it + 1, wall + time.perf_counter() - session_start)
            if on_checkpoint:
                on_checkpoint(it + 1)
        bar.set_postfix(loss_d=f"{loss_d.item():.3f}", loss_g=f"{loss_g.item():.3f}")
    wall += time.perf_counter() - session_start
    standing_stats(g_ema, batches=config.standing_batches, batch_size=config.batch_size,
                   rng=torch.Generator().manual_seed(seed + 1))
    out = workdir / "generator.pt"
    save_generator(g_ema, out, {**(meta or {}), "stage": "pretrain", "seed": seed,
                                "pretrain": config.to_dict(), "iterations": config.iterations,
                                "wall_seconds": wall})
    return PretrainResult(out, config.iterations, wall, start_iter)
