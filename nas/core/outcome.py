"""What a run ended as, and the one rule that turns a run or a score into a rankable number.

The rule, used by reports, searches, the frontier and the two-stage ranking alike:

- a run's accuracy counts as measured when the run finished, and as chance accuracy
  (1 / number of classes) when it diverged or measured nothing: a network whose loss blew up
  predicts no better than a guess (``run_accuracy``);
- a score that is undefined (None or not finite: NASWOT's singular kernel, a learning-curve
  score of a diverged run) ranks below every defined score of the same comparison, as the
  published NASWOT code's minus infinity does, and ties with the other undefined ones
  (``undefined_last``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum


class RunStatus(StrEnum):
    """A stored run's status (equal to its string in the database)."""

    FINISHED = "finished"
    DIVERGED = "diverged"  # a non-finite loss stopped training; no accuracy was measured
    PRUNED = "pruned"  # a search's pruner stopped it; not a result


def run_accuracy(status: str, accuracy: float | None, num_classes: int) -> float:
    """``accuracy`` of a finished run; chance (1 / ``num_classes``) for any other run or a
    missing accuracy."""
    if status == RunStatus.FINISHED and accuracy is not None:
        return accuracy
    return 1 / num_classes


def undefined_last(score: Mapping[str, float | None]) -> dict[str, float]:
    """Undefined scores (None or non-finite) as one finite value below every defined one
    (the lowest defined score minus 1; -1 when none is defined)."""
    finite = [v for v in score.values() if v is not None and math.isfinite(v)]
    floor = min(finite, default=0.0) - 1.0
    return {a: v if v is not None and math.isfinite(v) else floor for a, v in score.items()}
