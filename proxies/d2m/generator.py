"""BigGAN-style class-conditional generator and projection discriminator for small images.

Brock et al. (2019), "Large Scale GAN Training" (the D2M paper's default generator, Sec. 4.1):
residual up-blocks with class-conditional batch norm (gain and bias predicted from a shared
class embedding), a spectrally normalised residual discriminator with a projection head
(Miyato & Koyama, 2018). ``width`` is the size knob (BigGAN's ``ch``; its CIFAR model uses 64).
Images are in [-1, 1]; blocks double the resolution from 4x4, so ``im_size`` must be 4 * 2^k.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from nas.errors import InputError


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture of the generator/discriminator pair (stored with every checkpoint)."""

    num_classes: int
    im_size: int = 32
    channels: int = 3
    z_dim: int = 128  # BigGAN CIFAR: dim_z 128
    width: int = 64  # BigGAN CIFAR: G_ch = D_ch = 64; 4 * width channels in every block
    embed_dim: int = 128  # BigGAN: shared class embedding of size 128
    # Latent bank: codes of real training images (a cvae encoder's posteriors) that z is drawn
    # from instead of the prior N(0, I); 0 = no bank (docs/proxies.md#latent-sampling)
    latents: int = 0

    def __post_init__(self) -> None:
        if self.im_size < 8 or self.im_size & (self.im_size - 1):
            raise InputError(f"generator im_size must be a power of two >= 8, got "
                             f"{self.im_size}; pass --resize 8, 16 or 32")
        if self.num_classes < 1:
            raise InputError("generator needs at least one class")
        for name in ("z_dim", "width", "embed_dim"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, "
                                 f"got {getattr(self, name)}")
        if self.latents < 0:
            raise InputError(f"latents must be >= 0, got {self.latents}")

    @property
    def blocks(self) -> int:
        return self.im_size.bit_length() - 3  # 4x4 -> im_size, one doubling per block

    def to_dict(self) -> dict:
        """The fields; ``latents`` only when there is a bank, so the keys of jobs on
        generators without one are those of the toolkit before banks existed."""
        d = asdict(self)
        if not self.latents:
            del d["latents"]
        return d


class ConditionalBatchNorm(nn.Module):
    """BatchNorm without affine parameters whose gain and bias come from the condition."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels)
        self.bias = nn.Linear(cond_dim, channels)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)
        nn.init.zeros_(self.gain.bias)
        nn.init.zeros_(self.bias.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gain = 1 + self.gain(cond).view(len(x), -1, 1, 1)
        return self.bn(x) * gain + self.bias(cond).view(len(x), -1, 1, 1)


class GeneratorBlock(nn.Module):
    """CBN -> ReLU -> upsample -> conv -> CBN -> ReLU -> conv, plus an upsampled 1x1 skip."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int):
        super().__init__()
        self.bn1 = ConditionalBatchNorm(in_ch, cond_dim)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.bn2 = ConditionalBatchNorm(out_ch, cond_dim)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, cond)), scale_factor=2.0)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), cond)))
        return h + self.skip(F.interpolate(x, scale_factor=2.0))


class Generator(nn.Module):
    """``G(z, y)``: z float (N, z_dim), y int64 (N,) -> images (N, C, S, S) in [-1, 1].

    Conditioning is [z, shared_embedding(y)] fed to every block's CBN (BigGAN's shared
    embedding with the full z instead of hierarchical chunks: simpler, same role).
    """

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        ch = 4 * config.width
        cond_dim = config.z_dim + config.embed_dim
        self.embed = nn.Embedding(config.num_classes, config.embed_dim)
        self.linear = nn.Linear(config.z_dim, ch * 4 * 4)
        self.blocks = nn.ModuleList(GeneratorBlock(ch, ch, cond_dim) for _ in range(config.blocks))
        self.out_bn = nn.BatchNorm2d(ch)
        self.out_conv = nn.Conv2d(ch, config.channels, 3, padding=1)
        if config.latents:  # filled by ``set_latent_bank``; saved with the weights
            self.register_buffer("latent_mean", torch.zeros(config.latents, config.z_dim))
            self.register_buffer("latent_std", torch.ones(config.latents, config.z_dim))
            self.register_buffer("latent_labels", torch.zeros(config.latents,
                                                              dtype=torch.int64))

    @torch.no_grad()
    def set_latent_bank(self, mean: torch.Tensor, std: torch.Tensor,
                        labels: torch.Tensor) -> None:
        """Store the bank's Gaussians (mean, std: (latents, z_dim)) and their classes."""
        if not self.config.latents or len(labels) != self.config.latents:
            raise ValueError(f"a bank of {len(labels)} latents for a generator configured with "
                             f"{self.config.latents}")
        self.latent_mean.copy_(mean)
        self.latent_std.copy_(std)
        self.latent_labels.copy_(labels)

    @torch.no_grad()
    def entry_latents(self, entries: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """z (CPU, (N, z_dim)) sampled from the Gaussians of bank ``entries`` (N,)."""
        entries = entries.cpu()
        noise = torch.randn(len(entries), self.config.z_dim, generator=rng)
        return self.latent_mean.cpu()[entries] + self.latent_std.cpu()[entries] * noise

    @torch.no_grad()
    def sample_latents(self, labels: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """z (CPU, (N, z_dim)) for class ``labels`` (N,): from the prior N(0, I), or with a bank
        from the Gaussian of a uniformly drawn bank entry of each label's class (a class
        without entries falls back to the prior). Deterministic in ``rng``'s state; without
        a bank it is exactly ``torch.randn(N, z_dim, generator=rng)``."""
        labels = labels.cpu()
        if not self.config.latents:
            return torch.randn(len(labels), self.config.z_dim, generator=rng)
        bank = self.latent_labels.cpu()
        order = torch.argsort(bank, stable=True)  # entries grouped by class
        counts = torch.bincount(bank, minlength=self.config.num_classes)
        starts = torch.cumsum(counts, 0) - counts
        pick = torch.rand(len(labels), generator=rng)
        noise = torch.randn(len(labels), self.config.z_dim, generator=rng)
        have = counts[labels] > 0
        slot = starts[labels] + (pick * counts[labels]).long().clamp(
            max=(counts[labels] - 1).clamp(min=0))
        entry = order[slot.clamp(max=len(order) - 1)]
        z = self.latent_mean.cpu()[entry] + self.latent_std.cpu()[entry] * noise
        return torch.where(have[:, None], z, noise)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        cond = torch.cat([z, self.embed(y)], dim=1)
        h = self.linear(z).view(len(z), -1, 4, 4)
        for block in self.blocks:
            h = block(h, cond)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


class DiscriminatorBlock(nn.Module):
    """ReLU -> SN-conv -> ReLU -> SN-conv -> avg-pool, plus a 1x1 SN skip (BigGAN D block)."""

    def __init__(self, in_ch: int, out_ch: int, *, downsample: bool, preactivation: bool):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(in_ch, out_ch, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip = spectral_norm(nn.Conv2d(in_ch, out_ch, 1))
        self.downsample, self.preactivation = downsample, preactivation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        skip = self.skip(x)
        if self.downsample:
            h, skip = F.avg_pool2d(h, 2), F.avg_pool2d(skip, 2)
        return h + skip


class Discriminator(nn.Module):
    """Projection discriminator: ``D(x, y) = w . h(x) + <embed(y), h(x)>`` (N,) scores."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        ch = 4 * config.width
        downsamples = config.blocks - 1  # BigGAN CIFAR: 3 down-blocks then one at full res
        self.blocks = nn.Sequential(*(
            DiscriminatorBlock(config.channels if i == 0 else ch, ch,
                               downsample=i < downsamples, preactivation=i > 0)
            for i in range(config.blocks + 1)))
        self.linear = spectral_norm(nn.Linear(ch, 1))
        self.embed = spectral_norm(nn.Embedding(config.num_classes, ch))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(1)
