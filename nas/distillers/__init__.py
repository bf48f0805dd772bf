"""Distillation methods, registered once each: config class, artifact kind, distil function.

``nas pretrain``, ``nas distill`` and ``nas bench fidelity`` resolve a method here
(``get_distiller("d2m")``) or the distiller of an artifact kind a proxy consumes
(``distiller_of(kind)``). A distil function has the signature
``distil(db, data, dataset, config, *, seed=0, progress=True, **options) -> ProxyRecord``,
finds the stored result of an identical earlier call instead of redoing it, and returns the
stored row (an artifact for gan/d2m/d3, a proxy set for dm/dsa/datadam).
"""

from nas.distillers import d3 as _d3  # noqa: F401  (registers d3)
from nas.distillers import generators as _generators  # noqa: F401  (registers gan, d2m)
from nas.distillers import pixels as _pixels  # noqa: F401  (registers dm, dsa, datadam)
from nas.distillers.registry import (
    Distiller,
    distiller_of,
    get_distiller,
    list_distillers,
    register_distiller,
)

__all__ = ["Distiller", "distiller_of", "get_distiller", "list_distillers",
           "register_distiller"]
