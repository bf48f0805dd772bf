"""The NNI 3.0 model space of a toolkit search space (imported only by the nni-* strategies).

The space holds one ``nni.choice`` per factor; a frozen sample exposes ``.arch`` (factor ->
value). Networks are built and trained by the toolkit's own Evaluator, not by NNI."""

from __future__ import annotations

import nni
from nni.mutable import ensure_frozen
from nni.nas.nn.pytorch import ModelSpace


class FactorSpace(ModelSpace):
    """One categorical mutable per factor of a search space (see study.choices)."""

    def __init__(self, choices: dict[str, list]):
        super().__init__()
        self.arch = {name: ensure_frozen(self.add_mutable(nni.choice(name, list(values))))
                     for name, values in choices.items()}

    def forward(self, x):
        return x
