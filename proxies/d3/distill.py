"""D3 distillation of one class group: latent priors + decoder trained with MMD between real and
decoded features of random networks from a model pool, plus trajectory matching."""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from nas.core.augment import DSA, AugParams, DSAConfig
from nas.core.trainer import build_seeded
from nas.errors import InputError
from proxies.d3.decoder import Decoder
from proxies.d3.mmd import BANDWIDTHS, mmd2
from proxies.d3.prior import ClassPriors
from proxies.d3.trajectory import expert_trajectory, trajectory_loss
from search_spaces import build_convnet


@dataclass(frozen=True)
class D3Config:
    """D3 hyper-parameters; defaults sized for a CPU, paper choices noted where known."""

    iterations: int = 500  # optimisation steps per subtask
    components: int = 1  # Gaussian priors per class (paper: one or several)
    latent_dim: int = 32  # small decoder scale (paper's S/M/L decoders differ in latent size)
    rank: int = 0  # low-rank covariance factors; 0 = diagonal covariance
    decoder_width: int = 32  # small decoder: its parameters count in the stored size
    lr: float = 3e-3  # Adam, priors and decoder together
    real_per_class: int = 64  # real images per class per step for the MMD
    syn_per_class: int = 16  # decoded images per class per step
    bandwidths: tuple[float, ...] = BANDWIDTHS  # D3: RBF mixture {1, 2, 4, 8, 16}
    depth: int | None = None  # pool ConvNet depth; None = dataset's (3 at 32x32, 4 at 64)
    pool: tuple[str, ...] = ("w128-relu-instance-avg", "w64-relu-batch-max",
                             "w128-leakyrelu-group-avg")  # random-init ConvNets (D2M-style pool)
    augment: str = "color_crop_cutout_flip_scale_rotate"  # DSA, siamese for real vs synthetic
    trajectory: bool = True  # MTT term of D3; off for speed
    trajectory_weight: float = 1.0
    expert_arch: str = "w128-relu-instance-avg"  # MTT uses instance norm (no buffers)
    expert_epochs: int = 4  # length of the expert trajectory on real data
    expert_lr: float = 0.01  # MTT experts: SGD lr 0.01
    span: int = 2  # M: expert epochs matched
    syn_steps: int = 10  # N: student steps on synthetic data
    syn_lr: float = 0.01
    subtasks: int = 1  # class groups distilled in parallel worker processes
    worker_threads: int = 1  # torch threads per worker process

    def __post_init__(self) -> None:
        for name in ("iterations", "components", "latent_dim", "decoder_width",
                     "real_per_class", "syn_per_class", "subtasks", "worker_threads"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, "
                                 f"got {getattr(self, name)}")
        if not self.pool:
            raise InputError("--pool needs at least one architecture, e.g. w128-relu-instance-avg")
        if self.trajectory and not 1 <= self.span <= self.expert_epochs:
            raise InputError(f"--span ({self.span}) must be between 1 and --expert-epochs "
                             f"({self.expert_epochs})")

    def to_dict(self) -> dict:
        return asdict(self)

    def pool_arch(self, template: str, im_size: int) -> str:
        return f"d{self.resolved_depth(im_size)}-{template}"

    def resolved_depth(self, im_size: int) -> int:
        return self.depth or max(1, round(math.log2(im_size)) - 2)


@dataclass(frozen=True)
class GroupJob:
    """One subtask: real images of some classes (labels local 0..len(classes)-1)."""

    classes: tuple[int, ...]  # global class indices, in local order
    images: torch.Tensor  # float (N, C, H, W), standardised
    labels: torch.Tensor  # int64 local labels
    config: D3Config
    seed: int
    out: Path  # finished groups are saved here, so an interrupted run resumes
    in_worker: bool = False
    position: int = 0  # progress bar line
    progress: bool = True


def _take(params: AugParams | None, n: int) -> AugParams | None:
    """The first ``n`` rows of siamese parameters (all rows are equal)."""
    if params is None:
        return None
    return AugParams(params.family, tuple(v[:n] for v in params.values))


def pool_features(net: nn.Module, real: torch.Tensor, syn: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings of a real and a synthetic batch under one pool network, comparable.

    A network with batch norm is put in eval mode with running statistics set to the real
    batch's, so every image (real or synthetic) goes through the same per-image function: a
    synthetic image's features do not depend on the rest of the synthetic batch, and an image
    gets the same features in either batch. Without this, each batch would be normalised by
    its own statistics and the MMD would compare differently standardised features. Networks
    without batch norm are used as they are. Only the synthetic features carry gradients.
    The network's buffers and mode are modified.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if norms:
        net.train()
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: after one batch, that batch's statistics
        with torch.no_grad():
            net.embed(real)
        net.eval()
    with torch.no_grad():
        f_real = net.embed(real)
    return f_real, net.embed(syn)


def make_modules(config: D3Config, num_classes: int, channels: int, im_size: int,
                 seed: int) -> tuple[ClassPriors, Decoder]:
    """Priors and decoder initialised from ``seed`` only (global RNG untouched)."""
    priors = ClassPriors(num_classes, config.components, config.latent_dim, config.rank,
                         generator=torch.Generator().manual_seed(seed))
    decoder = build_seeded(partial(Decoder, config.latent_dim, channels, im_size,
                                   config.decoder_width), seed)
    return priors, decoder


def distill_group(job: GroupJob) -> dict:
    """Distill one class group; returns (and saves to ``job.out``) its priors and decoder.

    Returns:
        dict with ``classes``, ``priors`` and ``decoder`` state dicts, ``pid`` of the process
        that did the work, ``seconds`` and the last ``mmd``/``trajectory`` loss values.
    """
    if job.out.exists():
        return torch.load(job.out, weights_only=True)
    if job.in_worker:
        torch.set_num_threads(job.config.worker_threads)
    cfg, (channels, im_size) = job.config, job.images.shape[1::2]
    n_cls, start_time = len(job.classes), time.perf_counter()
    gen = torch.Generator().manual_seed(job.seed)
    priors, decoder = make_modules(cfg, n_cls, channels, im_size, job.seed)
    optimizer = torch.optim.Adam([*priors.parameters(), *decoder.parameters()], lr=cfg.lr)
    dsa = DSA(DSAConfig(cfg.augment))
    by_class = [torch.nonzero(job.labels == c).flatten() for c in range(n_cls)]
    shape = dict(in_channels=channels, num_classes=n_cls, im_size=im_size)
    pool = [partial(build_convnet, cfg.pool_arch(t, im_size), **shape) for t in cfg.pool]
    if cfg.trajectory:
        make_expert = partial(build_convnet, cfg.pool_arch(cfg.expert_arch, im_size), **shape)
        trajectory = expert_trajectory(make_expert, job.images, job.labels,
                                       epochs=cfg.expert_epochs, lr=cfg.expert_lr,
                                       batch_size=256, seed=job.seed, dsa=dsa)
        student = build_seeded(make_expert, job.seed)
    mmd_value = traj_value = float("nan")
    bar = tqdm(range(cfg.iterations), desc=f"d3 classes {list(job.classes)}", leave=False,
               position=job.position, disable=not job.progress)
    for _ in bar:
        real = job.images[torch.cat([idx[torch.randint(len(idx), (cfg.real_per_class,),
                                                       generator=gen)] for idx in by_class])]
        z, syn_labels = priors.sample(cfg.syn_per_class, gen)
        syn = decoder(z)
        aug = dsa.sample(max(len(real), len(syn)), gen, siamese=True)
        net_seed = int(torch.randint(2**31 - 1, (1,), generator=gen))
        net = build_seeded(pool[int(torch.randint(len(pool), (1,), generator=gen))], net_seed)
        net.requires_grad_(False)
        f_real, f_syn = pool_features(net, dsa.apply(real, _take(aug, len(real))),
                                      dsa.apply(syn, _take(aug, len(syn))))
        scale = f_real.shape[1] ** 0.5  # distances O(1) whatever the feature width
        r, s = cfg.real_per_class, cfg.syn_per_class
        loss = sum(mmd2(f_real[c * r:(c + 1) * r] / scale, f_syn[c * s:(c + 1) * s] / scale,
                        cfg.bandwidths) for c in range(n_cls))
        mmd_value = float(loss.detach())
        if cfg.trajectory:
            start = int(torch.randint(cfg.expert_epochs - cfg.span + 1, (1,), generator=gen))
            traj = trajectory_loss(student, trajectory, syn, syn_labels, start=start,
                                   span=cfg.span, steps=cfg.syn_steps, lr=cfg.syn_lr,
                                   batch_size=256, generator=gen, dsa=dsa)
            traj_value = float(traj.detach())
            loss = loss + cfg.trajectory_weight * traj
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        bar.set_postfix(mmd=f"{mmd_value:.4f}", traj=f"{traj_value:.3f}")
    result = {"classes": list(job.classes), "priors": priors.state_dict(),
              "decoder": decoder.state_dict(), "pid": os.getpid(),
              "seconds": time.perf_counter() - start_time, "mmd": mmd_value,
              "trajectory": traj_value}
    job.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result, job.out.with_suffix(".tmp"))
    job.out.with_suffix(".tmp").replace(job.out)
    return result
