"""The toolkit's error types: what the user can fix, told apart from bugs.

``UserError`` is the base of every error that bad input or the environment causes: a flag,
config value or file the toolkit refuses, an unknown name, a missing dataset, file or optional
dependency, an unreachable database. The ``nas`` command prints its first line and exits 2;
any other exception is a bug in the toolkit (one ``internal error`` line, exit 1, the
traceback under ``--debug``).

This module imports nothing, so every package (``storage`` and ``search_spaces`` included)
can raise these errors.
"""

from __future__ import annotations

__all__ = ["InputError", "UnknownNameError", "UserError"]


class UserError(Exception):
    """Base of the errors the user can fix; the message says what was wrong and what to do."""


class InputError(UserError, ValueError):
    """A value the toolkit refuses: a flag, a config field, a request or a file's content.
    Also a ``ValueError``, so library callers that catch ``ValueError`` keep working."""


class UnknownNameError(UserError, KeyError):
    """A name that no registry entry has; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
