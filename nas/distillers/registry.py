"""The registry every distillation method files itself in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nas.errors import InputError
from nas.registry import Registry
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
            InputError: a negative seed, an IPC below 1 (or missing where needed), or a base
                generator named for a method that refines none.
        """
        if seed < 0:
            raise InputError(f"--seed must be >= 0, got {seed}")
        if ipc is not None and ipc < 1:
            raise InputError(f"--ipc must be at least 1, got {ipc}")
        if self.needs_ipc and ipc is None:
            raise InputError(f"--method {self.name} distils one set per IPC: pass --ipc N "
                             "(N >= 1)")
        if generator and not self.refines:
            raise InputError(f"--generator names the generator d2m refines, not {self.name}")


DISTILLERS: Registry[Distiller] = Registry("distillation method")


def register_distiller(name: str, config: type, *, kind: str | None = None,
                       refines: str | None = None, needs_ipc: bool = False
                       ) -> Callable[[DistilFn], DistilFn]:
    """Decorator filing a distil function under ``name``."""
    def wrap(fn: DistilFn) -> DistilFn:
        DISTILLERS.add(name, Distiller(name, config, fn, kind, refines, needs_ipc))
        return fn
    return wrap


def list_distillers(pattern: str = "*") -> list[str]:
    return DISTILLERS.names(pattern)


def get_distiller(name: str) -> Distiller:
    """Raises UnknownNameError listing the registered methods."""
    return DISTILLERS.get(name)


def distiller_of(kind: str) -> Distiller:
    """The distiller that stores artifacts of ``kind``."""
    for distiller in DISTILLERS:
        if distiller.kind == kind:
            return distiller
    raise InputError(f"no distillation method stores {kind!r} artifacts")
