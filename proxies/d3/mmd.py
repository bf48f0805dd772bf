"""Maximum mean discrepancy with a mixture of RBF kernels (D3, docs/papers.md#d3)."""

from __future__ import annotations

import torch

BANDWIDTHS = (1.0, 2.0, 4.0, 8.0, 16.0)  # D3: five RBF kernels, as in MMD GANs


def rbf_mixture(x: torch.Tensor, y: torch.Tensor,
                bandwidths: tuple[float, ...] = BANDWIDTHS) -> torch.Tensor:
    """Kernel matrix ``sum_q exp(-|x_i - y_j|^2 / (2 sigma_q^2))`` of shape (len(x), len(y)).

    Args:
        x: (N, D) float tensor.
        y: (M, D) float tensor.
        bandwidths: the sigmas of the mixture.
    """
    d2 = torch.cdist(x, y).pow(2)
    return sum(torch.exp(-d2 / (2 * s * s)) for s in bandwidths)


def mmd2(x: torch.Tensor, y: torch.Tensor,
         bandwidths: tuple[float, ...] = BANDWIDTHS) -> torch.Tensor:
    """Biased (V-statistic) estimate of MMD^2 between samples ``x`` (N, D) and ``y`` (M, D).

    Differentiable in both inputs; 0 when the two samples are identical.

    Example:
        >>> float(mmd2(torch.zeros(1, 1), torch.ones(1, 1), (1.0,)))  # 2 - 2 exp(-1/2)
        0.786938...
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"mmd2 needs (N, D) and (M, D) samples, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    return (rbf_mixture(x, x, bandwidths).mean() + rbf_mixture(y, y, bandwidths).mean()
            - 2 * rbf_mixture(x, y, bandwidths).mean())
