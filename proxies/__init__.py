"""Proxy methods, registered by name: ``get_proxy("random")``, ``list_proxies()``."""

from proxies import cafe as _cafe  # noqa: F401  (registers cafe)
from proxies import d3 as _d3  # noqa: F401  (registers d3)
from proxies import datadam as _datadam  # noqa: F401  (registers datadam)
from proxies import dm as _dm  # noqa: F401  (registers dm)
from proxies import dsa as _dsa  # noqa: F401  (registers dsa)
from proxies import random_subset as _random_subset  # noqa: F401  (registers random, full)
from proxies.base import (
    ProxyMethod,
    ProxyRequest,
    ProxySet,
    get_proxy,
    is_set_name,
    list_proxies,
    method_of,
    register_proxy,
)
from proxies.d2m import generate as _d2m  # noqa: F401  (registers d2m)

__all__ = ["ProxyMethod", "ProxyRequest", "ProxySet", "get_proxy", "is_set_name",
           "list_proxies", "method_of", "register_proxy"]
