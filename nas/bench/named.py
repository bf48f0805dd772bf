"""Experiments as named data: training protocols, frontier recipes, search-outcome
contenders and fidelity presets are tables of the TOML files in ``experiments/`` beside this
module, one table per entry, keyed by a name (a slug) that the command line selects. Adding
one edits a data file, not code; the file's order is the default order of a benchmark."""

from __future__ import annotations

import copy
import tomllib
from functools import cache
from importlib import resources

from nas.errors import UnknownNameError

KINDS = {"training": "training protocol", "frontier": "frontier recipe",
         "contenders": "contender", "presets": "preset"}


@cache
def _table(kind: str) -> dict[str, dict]:
    text = resources.files(__package__).joinpath("experiments", f"{kind}.toml").read_text()
    return tomllib.loads(text)


def names(kind: str) -> list[str]:
    """The entries of ``experiments/<kind>.toml``, in file order."""
    return list(_table(kind))


def entry(kind: str, name: str) -> dict:
    """A copy of one entry's fields.

    Raises:
        UnknownNameError: no entry of that name (one line listing the valid names).
    """
    table = _table(kind)
    if name not in table:
        raise UnknownNameError(f"unknown {KINDS[kind]} {name!r}; choose from {', '.join(table)}")
    return copy.deepcopy(table[name])


def training(name: str) -> dict:
    """The TrainConfig overrides of the training protocol ``name`` (epochs are set by the
    caller)."""
    return entry("training", name)


def train_label(train: dict) -> str:
    """``{"epochs": 50, "lr": 0.05, "batch_size": 50, "augment": "flip"}`` ->
    ``"50ep lr.05 b50 flip"``; no override but the epochs -> ``"50ep D2M training"``."""
    short = {"lr": lambda v: f"lr{v:g}".replace("lr0.", "lr."), "batch_size": lambda v: f"b{v}",
             "augment": str}
    parts = [f"{train['epochs']}ep"]
    parts += [short[k](v) if k in short else f"{k}={v}" for k, v in train.items()
              if k != "epochs"]
    return " ".join(parts) if len(parts) > 1 else f"{parts[0]} D2M training"
