"""Proxy sets and the registry every proxy method files itself in."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Protocol

import torch

from nas.core.data import PreparedData
from nas.errors import InputError
from nas.registry import Registry


@dataclass(frozen=True)
class ProxySet:
    """A training set standing in for the full one.

    images: float32 (N, C, H, W), standardised with the dataset's mean/std (the trainer's
    input space); labels: int64 (N,) in 0..K-1. ``info``: facts the builder reports for the
    proxy row's params (e.g. a generator's stored size); not saved with the tensors.
    """

    images: torch.Tensor
    labels: torch.Tensor
    info: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.float32 or self.images.dim() != 4:
            raise InputError(f"proxy images must be float32 (N,C,H,W), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or len(self.labels) != len(self.images):
            raise InputError("proxy labels must be int64 with one label per image")

    def save(self, path: Path) -> str:
        """Write atomically and return the file's content hash."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"images": self.images, "labels": self.labels}, tmp)
        tmp.replace(path)
        return file_hash(path)

    @classmethod
    def load(cls, path: Path) -> ProxySet:
        blob = torch.load(path, weights_only=True)
        return cls(blob["images"], blob["labels"])


def file_hash(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class BuildFn(Protocol):
    def __call__(self, data: PreparedData, *, ipc: int, seed: int, options: dict,
                 artifacts_dir: Path) -> ProxySet: ...


class EpochStream(Protocol):
    """Training images drawn afresh while a candidate trains (a proxy's on-the-fly mode)."""

    def __call__(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The training set of ``epoch`` (2, 3, ...; epoch 1 trains on the stored set), in
        the trainer's input space, the same for the same epoch on every call."""
        ...

    def epochs_within_latency(self, candidate_macs: float, epochs: int) -> int:
        """How many of ``epochs`` a candidate of ``candidate_macs`` forward multiply-adds per
        image trains so that drawing and training cost no more than ``epochs`` on a fixed
        set of the same size."""
        ...


@dataclass(frozen=True)
class OnTheFlyOptions:
    """Build options of an on-the-fly proxy: how often a candidate's training set is drawn
    anew."""

    refresh_every: int = 1  # epochs between fresh draws (1: new images every epoch)

    def __post_init__(self) -> None:
        if self.refresh_every < 1:
            raise InputError(f"refresh_every must be at least 1, got {self.refresh_every}")


def fly_options(options: dict) -> OnTheFlyOptions:
    """An on-the-fly proxy's build options (all but the artifact the build is given)."""
    return OnTheFlyOptions(**{k: v for k, v in options.items() if k != "artifact"})


def draw_seed(seed: int, draw: int) -> int:
    """Seed of a stream's ``draw``-th set: draw 0 is ``seed`` itself (the stored set, the
    fixed proxy's with that seed); later draws get seeds no other (seed, draw) pair below a
    million draws shares."""
    return seed if draw == 0 else (seed + 1) * 1_000_003 + draw


class RefreshingStream:
    """An EpochStream's bookkeeping: epoch ``e`` trains on draw ``(e - 1) // refresh_every``,
    made by ``fresh(draw_seed(seed, draw))`` and kept while the draw lasts."""

    def __init__(self, seed: int, refresh_every: int):
        self.seed, self.refresh_every = seed, refresh_every
        self._draw, self._set = 0, None

    def draw(self, epoch: int) -> int:
        """Which draw trains ``epoch`` (1-based): 0 for the first ``refresh_every`` epochs."""
        return (epoch - 1) // self.refresh_every

    def fresh(self, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The set drawn with ``seed`` (images in the trainer's input space, labels)."""
        raise NotImplementedError

    def __call__(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        draw = self.draw(epoch)
        if self._set is None or draw != self._draw:
            self._draw, self._set = draw, self.fresh(draw_seed(self.seed, draw))
        return self._set


class StreamFn(Protocol):
    def __call__(self, data: PreparedData, *, ipc: int, seed: int, options: dict,
                 artifacts_dir: Path) -> EpochStream: ...


@dataclass(frozen=True)
class ProxyMethod:
    """A registered proxy method: ``build`` makes a ProxySet from prepared data."""

    name: str
    build: BuildFn
    description: str
    uses_ipc: bool = True
    consumes: str | None = None  # kind of stored artifact (proxies.artifacts) whose content
    # hash the build receives as options["artifact"]
    generates: bool = False  # makes its images (any IPC), rather than picking or starting
    # from real ones, which bounds the IPC by the real images of each class
    options: type | None = None  # dataclass of the build options it accepts (None: none)
    stream: StreamFn | None = None  # draws fresh training images every epoch (on the fly)

    def check_options(self, options: dict) -> None:
        """Raise ValueError (one line) unless ``options`` are valid build options."""
        given = {k: v for k, v in options.items() if k not in ("artifact", "preset")}
        if not given:
            return
        if self.options is None:
            raise InputError(f"proxy {self.name!r} takes no build options, got {sorted(given)}")
        known = [f.name for f in fields(self.options)]
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise InputError(f"unknown {self.name} option(s) {unknown}; choose from {known}")
        try:
            self.options(**given)
        except TypeError as exc:
            raise InputError(f"bad {self.name} options {given}: {exc}") from None


PROXIES: Registry[ProxyMethod] = Registry("proxy method")


def register_proxy(name: str, description: str, *, uses_ipc: bool = True,
                   consumes: str | None = None, generates: bool = False,
                   options: type | None = None, stream: StreamFn | None = None
                   ) -> Callable[[BuildFn], BuildFn]:
    """Decorator filing a build function under ``name``; ``generates``: the method makes
    any number of images per class (a generator), so the IPC is not bounded by the data;
    ``stream``: candidates train on images drawn afresh every epoch, the built set being the
    first epoch's."""
    def wrap(fn: BuildFn) -> BuildFn:
        PROXIES.add(name, ProxyMethod(name, fn, description, uses_ipc, consumes, generates,
                                      options, stream))
        return fn
    return wrap


def list_proxies(pattern: str = "*") -> list[str]:
    return PROXIES.names(pattern)


def get_proxy(name: str) -> ProxyMethod:
    """Raises UnknownNameError listing the registered methods."""
    return PROXIES.get(name)


SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # names of imported sets


def is_set_name(name: str) -> bool:
    """Whether ``name`` could name an imported set: a valid name that no method holds."""
    return name not in PROXIES and SET_NAME.fullmatch(name) is not None


def _read_not_built(data: PreparedData, *, ipc: int, seed: int, options: dict,
                    artifacts_dir: Path) -> ProxySet:
    raise InputError("an imported set is read from the database (`nas proxy import`), not "
                     "built")


# What a request for an imported set behaves as: its IPC is the file's, so no data bounds it.
IMPORTED = ProxyMethod("imported", _read_not_built, "a set imported with `nas proxy import`",
                       generates=True)


def method_of(name: str) -> ProxyMethod:
    """What a proxy name stands for: its registered method, or ``IMPORTED`` for a valid
    name no method holds (the set imported under it).

    Raises:
        UnknownNameError: neither.
    """
    return IMPORTED if is_set_name(name) else get_proxy(name)


@dataclass(frozen=True)
class ProxyRequest:
    """A validated request for a proxy set: every entry point (CLI, API, search, benchmark)
    builds one, so a bad method, IPC or seed fails here, before any data or database work.

    ``method``: a registered proxy method, or the name of a set imported into the database
    (``imported``; found there by ``nas.api.build_proxy``, which ignores ``ipc`` and ``seed``
    for it: the set is the file's).

    ``artifact``: content-hash prefix of the stored artifact a consuming proxy (d2m, d3)
    samples from; empty means the dataset's newest.

    Raises:
        UnknownNameError: the method is neither registered nor a valid set name.
        InputError: IPC below 1 for a method that uses it, a negative seed, or an artifact
            named for a method that consumes none; ``check_data``: an IPC above the real
            images of a class for a method that samples real images.
    """

    method: str
    ipc: int = 50
    seed: int = 0
    artifact: str = ""

    def __post_init__(self) -> None:
        spec = self.spec
        if spec.uses_ipc and self.ipc < 1:
            raise InputError(f"--ipc must be at least 1, got {self.ipc}")
        if self.seed < 0:
            raise InputError(f"proxy seed must be >= 0, got {self.seed}")
        if self.artifact and spec.consumes is None:
            raise InputError(f"proxy {self.method!r} samples from no stored artifact; "
                             "drop --artifact")

    @property
    def imported(self) -> bool:
        return is_set_name(self.method)

    @property
    def spec(self) -> ProxyMethod:
        return method_of(self.method)

    def check_data(self, data: PreparedData) -> None:
        """Refuse an IPC the data cannot fill: a method that picks (or starts from) real
        images needs ``ipc`` training images in every class; generators make any number."""
        spec = self.spec
        if not spec.uses_ipc or spec.generates:
            return
        counts = torch.bincount(data.train_labels, minlength=data.num_classes)
        smallest = int(counts.min())
        if self.ipc > smallest:
            name = data.class_names[int(counts.argmin())]
            raise InputError(f"--ipc {self.ipc} is more than the {smallest} training images of "
                             f"class {name!r}; {self.method} uses real images, so pass --ipc "
                             f"{smallest} or less (or more data: --per-class)")


def options_config(options: dict, presets: dict) -> object:
    """A preset (``options["preset"]``, default "paper") with the other options replacing
    its fields."""
    options = dict(options)
    name = options.pop("preset", "paper")
    if name not in presets:
        raise InputError(f"unknown preset {name!r}; choose from {sorted(presets)}")
    return replace(presets[name], **options)
