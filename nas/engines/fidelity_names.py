"""The names of the fidelities a search can measure (``nas.engines.fidelity``), checked
without a search session: the search config validates them before any work."""

from __future__ import annotations

from nas.analysis.zero_cost import ZERO_COST_METHODS
from nas.errors import InputError

ENSEMBLE = "ensemble"
TRAIN = "train"
FULL = "full"


def check_fidelity(name: str) -> str:
    """Return ``name`` if it names a fidelity, else raise InputError listing the valid ones."""
    head, sep, epochs = name.partition(":")
    if name in ZERO_COST_METHODS or name == ENSEMBLE or name == TRAIN:
        return name
    if head in (TRAIN, FULL) and sep and epochs.isdigit() and int(epochs) >= 1:
        return name
    raise InputError(f"unknown score {name!r}; choose from {list(ZERO_COST_METHODS)}, "
                     f"{ENSEMBLE!r}, {TRAIN!r}, 'train:<epochs>' or 'full:<epochs>'")
