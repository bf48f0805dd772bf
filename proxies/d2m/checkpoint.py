"""Generator files: atomic saves, loading (ours or a user's), EMA and BigGAN standing stats."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from nas.errors import InputError
from proxies.d2m.generator import Generator, GeneratorConfig

FORMAT = "nas-generator-v1"


def atomic_save(obj: object, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def save_generator(generator: Generator, path: Path, meta: dict) -> None:
    """Write a self-describing generator file (config + weights + provenance)."""
    atomic_save({"format": FORMAT, "config": generator.config.to_dict(),
                 "state_dict": generator.state_dict(), "meta": meta}, path)


def load_generator(path: Path | str, device: torch.device | str = "cpu") -> Generator:
    """Load a generator in eval mode from one of our files: an exported generator, a
    pre-training checkpoint (its EMA weights) or a user-supplied file of the same layout
    (``{"config": GeneratorConfig fields, "state_dict": ...}``).

    Raises:
        InputError: the file is missing or does not hold a generator of this architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"generator file {path} does not exist")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign files
        raise InputError(f"{path} is not a readable torch file: {exc}") from None
    if not isinstance(blob, dict) or "config" not in blob:
        raise InputError(f"{path} is not a generator file: expected a dict with 'config' and "
                         "'state_dict' (as written by `nas pretrain`)")
    state = blob.get("state_dict", blob.get("g_ema"))
    try:
        generator = Generator(GeneratorConfig(**blob["config"]))
        generator.load_state_dict(state)
    except (TypeError, RuntimeError) as exc:
        raise InputError(f"{path} does not match the generator architecture: "
                         f"{str(exc).splitlines()[0]}") from None
    return generator.to(device).eval()


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * model`` for parameters; buffers are copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.lerp_(p, 1 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)


@torch.no_grad()
def standing_stats(generator: Generator, *, batches: int, batch_size: int,
                   rng: torch.Generator) -> None:
    """BigGAN's "standing statistics": re-estimate every batch-norm's running mean/var as the
    plain average over ``batches`` random batches, so eval-mode samples match train-mode ones
    and every image is independent of its batch. Leaves the generator in eval mode."""
    norms = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    generator.train()
    device = next(generator.parameters()).device
    cfg = generator.config
    for _ in range(batches):
        if cfg.latents:  # z drawn from the bank entries of each image's class
            y = torch.randint(cfg.num_classes, (batch_size,), generator=rng)
            z = generator.sample_latents(y, rng)
        else:
            z = torch.randn(batch_size, cfg.z_dim, generator=rng)
            y = torch.randint(cfg.num_classes, (batch_size,), generator=rng)
        generator(z.to(device), y.to(device))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    generator.eval()


def generator_file(artifacts_dir: Path, digest: str) -> Path:
    """Where a stored generator lives: content-addressed under the artifacts directory."""
    return artifacts_dir / "generators" / f"{digest}.pt"
