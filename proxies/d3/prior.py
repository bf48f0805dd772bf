"""Per-class Gaussian latent priors: K components per class, mean + diagonal (+ low-rank)
covariance (D3, 'distributional representation')."""

from __future__ import annotations

import torch
from torch import nn


class ClassPriors(nn.Module):
    """Mixture of ``components`` Gaussians per class in a ``latent_dim`` latent space.

    Component k of class c is N(mean[c,k], diag(exp(log_std[c,k]))^2 + U U^T) with U of
    shape (latent_dim, rank); rank 0 gives a purely diagonal covariance.
    """

    def __init__(self, num_classes: int, components: int, latent_dim: int, rank: int = 0, *,
                 generator: torch.Generator | None = None):
        super().__init__()
        shape = (num_classes, components, latent_dim)
        self.mean = nn.Parameter(torch.randn(shape, generator=generator))
        self.log_std = nn.Parameter(torch.zeros(shape))
        self.factor = nn.Parameter(torch.zeros(*shape, rank))

    @property
    def num_classes(self) -> int:
        return self.mean.shape[0]

    @property
    def components(self) -> int:
        return self.mean.shape[1]

    def sample(self, per_class: int, generator: torch.Generator) -> tuple[torch.Tensor,
                                                                           torch.Tensor]:
        """Reparameterised draw of ``per_class`` latents for every class (differentiable).

        Components are used in turn (image i of a class comes from component i mod K), so
        every component is represented whenever ``per_class >= K``.

        Returns:
            z: float (num_classes * per_class, latent_dim), grouped by class.
            labels: int64 local class indices (0..num_classes-1), same order.
        """
        c, k, d = self.mean.shape
        comp = torch.arange(per_class) % k
        mean, std = self.mean[:, comp], self.log_std[:, comp].exp()  # (C, n, D)
        eps = torch.randn(c, per_class, d, generator=generator).to(mean)
        z = mean + std * eps
        if self.factor.shape[-1]:
            u = self.factor[:, comp]  # (C, n, D, R)
            e2 = torch.randn(c, per_class, u.shape[-1], 1, generator=generator).to(mean)
            z = z + (u @ e2).squeeze(-1)
        labels = torch.arange(c).repeat_interleave(per_class)
        return z.reshape(c * per_class, d), labels
