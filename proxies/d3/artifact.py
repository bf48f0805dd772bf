"""The D3 proxy artifact: per-group priors and decoders aggregated into one content-addressed
file, and the registered ``d3`` proxy that samples any IPC from it without retraining."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from nas.core.data import PreparedData
from nas.errors import InputError
from proxies.artifacts import D3_PRIORS, MADE_BY
from proxies.base import ProxySet, file_hash, register_proxy
from proxies.d3.distill import D3Config, GroupJob, distill_group, make_modules
from proxies.d3.subtasks import run_parallel, split_classes

FORMAT = "d3/1"


def _group_seed(seed: int, group: int) -> int:
    return seed * 1_000 + group


def distill(data: PreparedData, config: D3Config, *, seed: int, work_dir: Path,
            progress: bool = True) -> dict:
    """Distill ``data`` into one D3 artifact (a dict, see ``save``).

    The classes are split into ``config.subtasks`` groups, each distilled independently
    (with its own expert) in its own spawned worker process when there are several; finished
    groups are kept under ``work_dir``, so an interrupted call resumes where it stopped.

    Raises:
        InputError: if ``config.subtasks`` is not in 1..number of classes.
    """
    groups = split_classes(data.num_classes, config.subtasks)
    images = data.normalize(data.train_images)
    jobs = []
    for i, classes in enumerate(groups):
        mask = torch.isin(data.train_labels, torch.tensor(classes))
        local = {c: j for j, c in enumerate(classes)}
        labels = torch.tensor([local[int(c)] for c in data.train_labels[mask]], dtype=torch.int64)
        jobs.append(GroupJob(tuple(classes), images[mask].contiguous(), labels, config,
                             _group_seed(seed, i), work_dir / f"group{i}-of-{len(groups)}.pt",
                             in_worker=len(groups) > 1, position=i, progress=progress))
    results = run_parallel(distill_group, jobs, workers=len(jobs))
    return {"format": FORMAT, "config": config.to_dict(), "seed": seed,
            "dataset_key": data.key, "class_names": list(data.class_names),
            "channels": data.channels, "im_size": data.im_size, "parent_pid": os.getpid(),
            "groups": results}


def save(artifact: dict, directory: Path) -> tuple[Path, str]:
    """Write ``artifact`` as ``directory/<content hash>.pt``; returns (path, hash)."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".d3-{os.getpid()}.tmp"
    torch.save(artifact, tmp)
    digest = file_hash(tmp)
    path = directory / f"{digest}.pt"
    tmp.replace(path)
    return path, digest


def load(path: Path) -> dict:
    """Read an artifact written by ``save``.

    Raises:
        InputError: if the file is missing or not a D3 artifact.
    """
    if not path.is_file():
        raise InputError(f"D3 artifact {path} not found; distill it first with "
                         f"`{MADE_BY[D3_PRIORS]}`")
    artifact = torch.load(path, weights_only=True)
    if artifact.get("format") != FORMAT:
        raise InputError(f"{path} is not a {FORMAT} artifact")
    return artifact


def _config(artifact: dict) -> D3Config:
    cfg = dict(artifact["config"])
    cfg["pool"], cfg["bandwidths"] = tuple(cfg["pool"]), tuple(cfg["bandwidths"])
    return D3Config(**cfg)


def stored_size(artifact: dict) -> dict[str, int]:
    """What the proxy costs to store: priors + decoder parameters of every group.

    Returns:
        {"stored_params": number of scalars, "stored_bytes": their size in bytes}.
    """
    tensors = [t for g in artifact["groups"] for part in ("priors", "decoder")
               for t in g[part].values()]
    return {"stored_params": sum(t.numel() for t in tensors),
            "stored_bytes": sum(t.numel() * t.element_size() for t in tensors)}


@torch.no_grad()
def sample(artifact: dict, ipc: int, seed: int) -> ProxySet:
    """Decode ``ipc`` images per class (class-sorted), each class through its group's decoder.

    Deterministic for a given ``seed``; the artifact is not modified.
    """
    if ipc < 1:
        raise InputError(f"ipc must be at least 1, got {ipc}")
    config, generator = _config(artifact), torch.Generator().manual_seed(seed)
    images = [None] * len(artifact["class_names"])
    for group in artifact["groups"]:
        priors, decoder = make_modules(config, len(group["classes"]), artifact["channels"],
                                       artifact["im_size"], seed=0)
        priors.load_state_dict(group["priors"])
        decoder.load_state_dict(group["decoder"])
        decoder.eval()
        z, local = priors.sample(ipc, generator)
        decoded = decoder(z)
        for j, c in enumerate(group["classes"]):
            images[c] = decoded[local == j]
    labels = torch.arange(len(images)).repeat_interleave(ipc)
    return ProxySet(torch.cat(images).float().contiguous(), labels)


@register_proxy("d3", "D3: images decoded from distilled per-class Gaussian latent priors "
                      "(any IPC, one artifact)", consumes=D3_PRIORS, generates=True)
def build_d3(data: PreparedData, *, ipc: int, seed: int, options: dict,
             artifacts_dir: Path) -> ProxySet:
    """Sample a proxy set from the artifact ``artifacts_dir/d3/<options['artifact']>.pt``
    (``nas.api.build_proxy`` fills in the dataset's latest one).

    Raises:
        InputError: if no artifact is named, it is missing, or it was distilled from other data.
    """
    if "artifact" not in options:
        raise InputError(f"proxy 'd3' needs a distilled artifact: run `{MADE_BY[D3_PRIORS]}`")
    path = artifacts_dir / "d3" / f"{options['artifact']}.pt"
    artifact = load(path)
    if file_hash(path) != options["artifact"]:
        raise InputError(f"{path} does not match its content hash; distill it again")
    if artifact["dataset_key"] != data.key:
        raise InputError(f"D3 artifact {options['artifact']} was distilled from dataset "
                         f"{artifact['dataset_key']}, not {data.key}")
    proxy_set = sample(artifact, ipc, seed)
    return ProxySet(proxy_set.images, proxy_set.labels, info=stored_size(artifact))
