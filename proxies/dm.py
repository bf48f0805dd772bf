"""DM: pixel-space distribution matching (Zhao & Bilen, WACV 2023), the standard baseline.

Synthetic images (initialised from random real ones) are optimised so that, for every class,
their mean embedding under a randomly initialised ConvNet matches the real images' mean
embedding; one fresh network per iteration, the same DSA transform for the real and synthetic
images of a class. Re-distilled for every IPC (unlike D2M). Resumable from a checkpoint in
the artifacts directory.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from nas.core.augment import DEFAULT_STRATEGY, DSA, AugParams, DSAConfig
from nas.core.data import PreparedData
from nas.core.runtime import default_device
from proxies.base import ProxySet, register_proxy
from proxies.d2m.checkpoint import atomic_save
from proxies.d2m.model_pool import ModelPool
from proxies.random_subset import class_balanced_indices


@dataclass(frozen=True)
class DMConfig:
    """DM hyper-parameters (DM paper Sec. 4 and its reference code)."""

    iterations: int = 20_000  # DM: 20k outer iterations
    lr: float = 1.0  # DM: SGD on pixels, lr_img 1.0 for ConvNet
    momentum: float = 0.5  # DM reference code
    batch_real: int = 256  # DM: 256 real images per class per iteration
    width: int = 128  # ConvNet of the dataset's depth, 128 filters
    augment: str = DEFAULT_STRATEGY  # DSA on (DM uses it during distillation)
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_real", "width", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"DM {name} must be at least 1, got {getattr(self, name)}")
        if self.lr < 0 or self.momentum < 0:
            raise ValueError(f"DM lr and momentum must be >= 0, got {self.lr} and "
                             f"{self.momentum}")
        DSAConfig(self.augment).families  # noqa: B018  (raises for an unknown DSA family)

    def to_dict(self) -> dict:
        return asdict(self)


def dm_loss(real_embed: torch.Tensor, syn_embed: torch.Tensor) -> torch.Tensor:
    """Squared distance between the mean embeddings of one class's real and synthetic images."""
    return (real_embed.mean(0) - syn_embed.mean(0)).pow(2).sum()


def _for_batch(params: AugParams | None, n: int) -> AugParams | None:
    """Siamese parameters (identical rows) re-shaped for a batch of ``n`` images."""
    if params is None:
        return None
    return AugParams(params.family, tuple(v[:1].expand(n, *v.shape[1:]) for v in params.values))


def distill_dm(data: PreparedData, ipc: int, config: DMConfig, *, seed: int, workdir: Path,
               device: torch.device | str = "cpu", progress: bool = True) -> ProxySet:
    """Optimise ``ipc`` standardised images per class; resumes from ``workdir``."""
    if ipc < 1:
        raise ValueError(f"ipc must be at least 1, got {ipc}")
    device = torch.device(device)
    rng = torch.Generator().manual_seed(seed)
    k = data.num_classes
    init = class_balanced_indices(data.train_labels, ipc, k, rng)
    if len(init) != ipc * k:
        raise ValueError(f"every class needs at least {ipc} training images for DM init")
    syn = data.normalize(data.train_images[init]).to(device).requires_grad_(True)
    labels = data.train_labels[init].clone()
    optimizer = torch.optim.SGD([syn], lr=config.lr, momentum=config.momentum)
    pool = ModelPool.for_data(data.channels, k, data.im_size, members=("convnet",),
                              width=config.width)
    dsa = DSA(DSAConfig(config.augment))
    by_class = [torch.nonzero(data.train_labels == c).flatten() for c in range(k)]
    ckpt_path = workdir / "checkpoint.pt"
    start = 0
    if ckpt_path.is_file():
        blob = torch.load(ckpt_path, map_location=device, weights_only=True)
        with torch.no_grad():
            syn.copy_(blob["images"])
        optimizer.load_state_dict(blob["optimizer"])
        rng.set_state(blob["rng"])
        start = blob["iteration"]
    bar = tqdm(range(start, config.iterations), initial=start, total=config.iterations,
               desc=f"DM ipc{ipc}", unit="it", disable=not progress)
    for it in bar:
        net = pool.draw(rng).to(device).requires_grad_(False)
        loss = syn.new_zeros(())
        for c in range(k):
            pick = by_class[c][torch.randint(len(by_class[c]), (config.batch_real,),
                                             generator=rng)]
            real = data.normalize(data.train_images[pick]).to(device)
            params = dsa.sample(len(real), rng, siamese=True)
            with torch.no_grad():
                real_embed = net(dsa.apply(real, params)).embedding
            syn_c = syn[c * ipc:(c + 1) * ipc]
            syn_embed = net(dsa.apply(syn_c, _for_batch(params, len(syn_c)))).embedding
            loss = loss + dm_loss(real_embed, syn_embed)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        bar.set_postfix(loss=f"{loss.item() / k:.4f}")
        if (it + 1) % config.checkpoint_every == 0 or it + 1 == config.iterations:
            atomic_save({"images": syn.detach(), "optimizer": optimizer.state_dict(),
                         "rng": rng.get_state(), "iteration": it + 1}, ckpt_path)
    return ProxySet(syn.detach().cpu().float().contiguous(), labels)


@register_proxy("dm", "pixel-space distribution matching (DM), distilled for each IPC",
                options=DMConfig)
def build_dm(data: PreparedData, *, ipc: int, seed: int, options: dict,
             artifacts_dir: Path) -> ProxySet:
    """``options``: fields of DMConfig (defaults from the DM paper)."""
    config = DMConfig(**options)
    job = hashlib.blake2b(json.dumps({"data": data.key, "ipc": ipc, "seed": seed,
                                      "dm": config.to_dict()}, sort_keys=True).encode(),
                          digest_size=12).hexdigest()
    return distill_dm(data, ipc, config, seed=seed, workdir=artifacts_dir / "work" / f"dm-{job}",
                      device=default_device())
