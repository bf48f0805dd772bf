"""Generator artifacts for D2M: pre-train (or import) a conditional GAN, then D2M-distil it.

Generators are rows of the proxy table with kind ``gan-generator`` (pre-trained or imported)
or ``d2m-generator`` (distilled) and no IPC; their files live content-addressed in
``db.home/artifacts/generators/<hash>.pt``. Work directories (checkpoints, sample grids) are
keyed by the job's configuration, so re-running an interrupted command resumes it.
"""

from __future__ import annotations

from pathlib import Path

from nas.api import stored_artifact
from nas.core.data import PreparedData
from nas.core.runtime import default_device, device_name
from nas.distillers.registry import register_distiller
from nas.distillers.store import copy_in, job_key, record_artifact
from nas.errors import InputError
from proxies.artifacts import BUILT_FROM, D2M_GENERATOR, GAN_GENERATOR
from proxies.base import file_hash
from proxies.d2m.checkpoint import generator_file, load_generator, save_generator
from proxies.d2m.distill import D2MConfig, distill
from proxies.d2m.generator import GeneratorConfig
from proxies.d2m.pretrain import PretrainConfig, posterior_generator, pretrain
from storage import Database, DatasetRecord, ProxyRecord, find_proxy


def _generators_dir(db: Database) -> Path:
    return generator_file(db.home / "artifacts", "x").parent


def _store(db: Database, dataset: DatasetRecord, source: Path, **row) -> ProxyRecord:
    path, digest = copy_in(source, _generators_dir(db))
    return record_artifact(db, dataset, path, digest, **row)


def _check_shape(config: GeneratorConfig, data: PreparedData, source: str) -> None:
    if (config.num_classes, config.im_size, config.channels) != (
            data.num_classes, data.im_size, data.channels):
        raise InputError(f"{source} makes {config.num_classes} classes of {config.channels}x"
                         f"{config.im_size}^2 images; the dataset has {data.num_classes} of "
                         f"{data.channels}x{data.im_size}^2")


@register_distiller("gan", PretrainConfig, kind=GAN_GENERATOR)
def pretrain_generator(db: Database, data: PreparedData, dataset: DatasetRecord,
                       config: PretrainConfig, *, seed: int = 0, progress: bool = True,
                       width: int = GeneratorConfig.width) -> ProxyRecord:
    """Pre-train (or resume, or find) a conditional GAN on the dataset's training split;
    ``width`` is the generator/discriminator size knob (GeneratorConfig.width)."""
    gen_config = GeneratorConfig(num_classes=data.num_classes, im_size=data.im_size,
                                 channels=data.channels, width=width)
    params = {"generator": gen_config.to_dict(), "pretrain": config.to_dict()}
    key = job_key({"dataset": dataset.key, "method": GAN_GENERATOR, "seed": seed, **params})
    existing = find_proxy(db, key)
    if existing is not None:
        return existing
    device = default_device()
    result = pretrain(data.train_images, data.train_labels, gen_config, config, seed=seed,
                      workdir=db.home / "artifacts" / "work" / f"pretrain-{key}", device=device,
                      progress=progress, meta={"dataset": dataset.key})
    return _store(db, dataset, result.generator_path, key=key, kind=GAN_GENERATOR, seed=seed,
                  params={**params, "workdir": str(result.generator_path.parent)},
                  seconds=result.wall_seconds, device=device_name(device))


def import_generator(db: Database, data: PreparedData, dataset: DatasetRecord,
                     path: Path) -> ProxyRecord:
    """Store a user-supplied generator file (checked to load and fit the dataset)."""
    generator = load_generator(path)
    _check_shape(generator.config, data, str(path))
    key = job_key({"dataset": dataset.key, "method": GAN_GENERATOR,
                   "imported": file_hash(path)})
    existing = find_proxy(db, key)
    if existing is not None:
        return existing
    return _store(db, dataset, path, key=key, kind=GAN_GENERATOR, seed=0,
                  params={"generator": generator.config.to_dict(), "imported_from": str(path)},
                  seconds=0.0, device="imported")


@register_distiller("d2m", D2MConfig, kind=D2M_GENERATOR, refines=BUILT_FROM[D2M_GENERATOR])
def distill_generator(db: Database, data: PreparedData, dataset: DatasetRecord,
                      config: D2MConfig, *, seed: int = 0, progress: bool = True,
                      base: str | None = None) -> ProxyRecord:
    """D2M-distil a stored pre-trained generator (hash prefix ``base``, default the latest)."""
    parent = stored_artifact(db, dataset, GAN_GENERATOR, base or "")
    params = {"d2m": config.to_dict(), "base": parent.artifact_hash}
    key = job_key({"dataset": dataset.key, "method": D2M_GENERATOR, "seed": seed, **params})
    existing = find_proxy(db, key)
    if existing is not None:
        return existing
    device = default_device()
    workdir = db.home / "artifacts" / "work" / f"d2m-{key}"
    base_path = Path(parent.artifact_path)
    if config.latents == "posterior":  # the cvae decoder with its encoder's latent bank
        base_path = workdir / "posterior-base.pt"
        if "workdir" not in parent.params:
            raise InputError("latents=posterior needs a cvae pre-trained here (its encoder); "
                             f"generator {parent.artifact_hash[:8]} was imported")
        if not base_path.is_file():
            checkpoint = Path(parent.params["workdir"]) / "checkpoint.pt"
            save_generator(posterior_generator(checkpoint, data.train_images,
                                               data.train_labels, seed=seed),
                           base_path, {"stage": "posterior bank", "base": parent.artifact_hash})
    result = distill(data, base_path, config, seed=seed, workdir=workdir, device=device,
                     progress=progress, meta={"dataset": dataset.key})
    return _store(db, dataset, result.generator_path, key=key, kind=D2M_GENERATOR, seed=seed,
                  params={**params, "iterations": result.iterations,
                          "mean_loss": result.mean_loss},
                  seconds=result.wall_seconds, device=device_name(device))
