"""Trajectory matching (MTT, used by D3): expert trajectories on real data and the loss that
makes a few differentiable steps on synthetic data land where the expert went."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from nas.core.augment import DSA
from nas.core.trainer import build_seeded


def flat_params(net: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def unflatten(net: nn.Module, flat: torch.Tensor) -> dict[str, torch.Tensor]:
    """Split a flat vector into ``net``'s named parameter shapes (views, differentiable)."""
    out, offset = {}, 0
    for name, p in net.named_parameters():
        out[name] = flat[offset:offset + p.numel()].view_as(p)
        offset += p.numel()
    return out


def expert_trajectory(make_net: Callable[[], nn.Module], images: torch.Tensor,
                      labels: torch.Tensor, *, epochs: int, lr: float, batch_size: int,
                      seed: int, dsa: DSA) -> torch.Tensor:
    """Train ``make_net()`` on real data with plain SGD (MTT experts) and snapshot it.

    Args:
        images: float (N, C, H, W) standardised real images; labels: int64 (N,).
    Returns:
        float (epochs + 1, P): the flat parameters at the start and after every epoch.
    """
    generator = torch.Generator().manual_seed(seed)
    net = build_seeded(make_net, seed)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    snapshots = [flat_params(net)]
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=generator)
        for begin in range(0, len(labels), batch_size):
            idx = order[begin:begin + batch_size]
            loss = F.cross_entropy(net(dsa(images[idx], generator)), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        snapshots.append(flat_params(net))
    return torch.stack(snapshots)


def trajectory_loss(net: nn.Module, trajectory: torch.Tensor, images: torch.Tensor,
                    labels: torch.Tensor, *, start: int, span: int, steps: int, lr: float,
                    batch_size: int, generator: torch.Generator, dsa: DSA) -> torch.Tensor:
    """Normalised MTT loss |theta_N - theta*_{t+M}|^2 / |theta*_t - theta*_{t+M}|^2.

    Starts from expert checkpoint ``start`` (t), takes ``steps`` (N) SGD steps on the synthetic
    ``images`` with ``torch.func.functional_call`` (graph kept, so the loss is differentiable
    in ``images``) and compares with checkpoint ``start + span`` (t + M). ``net`` only supplies
    the architecture; its own weights are not used or changed.
    """
    theta = trajectory[start].clone().requires_grad_(True)
    target = trajectory[start + span]
    params = theta
    for _ in range(steps):
        idx = torch.randperm(len(labels), generator=generator)[:batch_size]
        x = dsa(images[idx], generator)
        loss = F.cross_entropy(functional_call(net, unflatten(net, params), (x,)), labels[idx])
        (grad,) = torch.autograd.grad(loss, params, create_graph=True)
        params = params - lr * grad
    return (params - target).pow(2).sum() / (trajectory[start] - target).pow(2).sum().clamp_min(
        1e-12)
