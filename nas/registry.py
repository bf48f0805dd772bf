"""One registry type for every extension point: proxies, search spaces, search strategies and
distillers file their entries by name in a ``Registry`` (as timm's ``list_models("res*")``).

This module imports only ``nas.errors``, so every package (``search_spaces`` included) can
keep its entries in one.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Generic, TypeVar

from nas.errors import UnknownNameError

__all__ = ["DuplicateNameError", "Registry"]

T = TypeVar("T")


class DuplicateNameError(ValueError):
    """A second entry under a name already taken: a bug in the code that registers it."""


class Registry(Generic[T]):
    """Entries of one kind (``"proxy method"``, ``"search space"``...) by unique name.

    Example:
        >>> spaces = Registry[int]("search space")
        >>> spaces.add("tiny", 1)
        1
        >>> spaces.names("t*")
        ['tiny']
        >>> spaces.get("huge")
        Traceback (most recent call last):
        nas.errors.UnknownNameError: unknown search space 'huge'; available: tiny
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """File ``entry`` under ``name`` and return it.

        Raises:
            DuplicateNameError: ``name`` is taken (two entries would shadow each other).
        """
        if name in self._entries:
            raise DuplicateNameError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """The entry named ``name``.

        Raises:
            UnknownNameError: no entry has that name; the message lists the valid ones.
        """
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; available: "
                                   f"{', '.join(self.names())}") from None

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching the shell-style ``pattern`` (``fnmatch``)."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[T]:
        """The entries, in the order they were added."""
        return iter(self._entries.values())
