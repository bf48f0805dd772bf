"""The registry every distillation method files itself in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from storage import ProxyRecord

DistilFn = Callable[..., ProxyRecord]


@dataclass(frozen=True)
class Distiller:
    """A registered distillation method.

    ``kind``: the artifact kind it stores (``proxies.artifacts``), or None when it stores a
    proxy set of one IPC (dm). ``refines``: the artifact kind it starts from (d2m refines a
    pre-trained GAN generator), or None. ``needs_ipc``: the call must name an IPC.
    """

    name: str
    config: type
    distil: DistilFn
    kind: str | None = None
    refines: str | None = None
    needs_ipc: bool = False

    def check(self, *, seed: int, ipc: int | None, generator: str | None = None) -> None:
        """Validate the arguments of a distil call that need no data.

        Raises:
            ValueError: a negative seed, an IPC below 1 (or missing where needed), or a base
                generator named for a method that refines none.
        """
        if seed < 0:
            raise ValueError(f"--seed must be >= 0, got {seed}")
        if ipc is not None and ipc < 1:
            raise ValueError(f"--ipc must be at least 1, got {ipc}")
        if self.needs_ipc and ipc is None:
            raise ValueError(f"--method {self.name} distils one set per IPC: pass --ipc N "
                             "(N >= 1)")
        if generator and not self.refines:
            raise ValueError(f"--generator names the generator d2m refines, not {self.name}")


_REGISTRY: dict[str, Distiller] = {}


def register_distiller(name: str, config: type, *, kind: str | None = None,
                       refines: str | None = None, needs_ipc: bool = False
                       ) -> Callable[[DistilFn], DistilFn]:
    """Decorator filing a distil function under ``name``."""
    def wrap(fn: DistilFn) -> DistilFn:
        _REGISTRY[name] = Distiller(name, config, fn, kind, refines, needs_ipc)
        return fn
    return wrap


def list_distillers() -> list[str]:
    return sorted(_REGISTRY)


def get_distiller(name: str) -> Distiller:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown distillation method {name!r}; available: "
                         f"{', '.join(list_distillers())}") from None


def distiller_of(kind: str) -> Distiller:
    """The distiller that stores artifacts of ``kind``."""
    for distiller in _REGISTRY.values():
        if distiller.kind == kind:
            return distiller
    raise ValueError(f"no distillation method stores {kind!r} artifacts")
