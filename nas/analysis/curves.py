"""Scores read from a stored run's learning curve, at no extra training.

Ru et al. (NeurIPS 2021, "Speedy performance estimation for neural architecture search")
rank architectures by the sum of training losses (SoTL) and by its recent part, SoTL-E: the
training losses of the last E epochs (they find small E, one epoch, ranks best); lower loss is
better, so the score is its negative. The validation scores read the accuracies the run
measured (every ``report_every`` epochs and at the end).
"""

from __future__ import annotations

import math

from nas.errors import InputError

CURVE_SCORES = ("final-val", "best-val", "val-auc", "sotl", "sotl-e")
SOTL_EPOCHS = 1  # E of SoTL-E


def curve_score(name: str, curve: dict | None, *, last_epochs: int = SOTL_EPOCHS
                ) -> float | None:
    """Score ``name`` of one run's ``curve`` ({"train_loss": [...], "val_acc": [[epoch,
    acc], ...]}); None when the run kept no curve, or not the part this score reads, or its
    losses are not finite (a diverged run). Higher is better for every score."""
    if name not in CURVE_SCORES:
        raise InputError(f"unknown score {name!r}; choose from {list(CURVE_SCORES)}")
    if not curve:
        return None
    losses, val = curve.get("train_loss") or [], curve.get("val_acc") or []
    if name.startswith("sotl"):
        part = losses[-last_epochs:] if name == "sotl-e" else losses
        total = sum(part)
        return -total if part and math.isfinite(total) else None
    if not val:
        return None
    accs = [acc for _, acc in val]
    if name == "final-val":
        return accs[-1]
    if name == "best-val":
        return max(accs)
    epochs = [epoch for epoch, _ in val]
    if len(val) == 1 or epochs[-1] == epochs[0]:
        return accs[-1]
    area = sum((e1 - e0) * (a0 + a1) / 2
               for (e0, a0), (e1, a1) in zip(val, val[1:], strict=False))
    return area / (epochs[-1] - epochs[0])  # mean accuracy over the measured span
