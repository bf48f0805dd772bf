"""Zero-cost ensembles: several zero-cost scores of the same architectures combined by rank.

Abdelfattah et al. (ICLR 2021) combined zero-cost proxies by voting; a sum of ranks is the
smooth version of that vote and needs no scale matching between scores (params counts and
NASWOT log-determinants differ by orders of magnitude). Ranks are 1 = worst, ties averaged,
over the architectures every member scored; higher is better, as for each member.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.stats import rankdata

from nas.errors import InputError

DEFAULT_MEMBERS = ("params", "synflow", "naswot")
RULES = ("sum", "min")  # sum: Borda count; min: an architecture is as good as its worst rank


def rank_ensemble(scores: Mapping[str, Mapping[str, float]],
                  members: tuple[str, ...] = DEFAULT_MEMBERS, rule: str = "sum"
                  ) -> dict[str, float]:
    """Combine ``scores[member][arch]`` into one score per architecture every member scored
    (finite values only). Raises InputError on an unknown rule or a member with no scores."""
    if rule not in RULES:
        raise InputError(f"unknown ensemble rule {rule!r}; choose from {list(RULES)}")
    missing = [m for m in members if not scores.get(m)]
    if missing:
        raise InputError(f"the ensemble needs scores of {missing}; score them first")
    archs = sorted(set.intersection(*({a for a, v in scores[m].items()
                                       if v is not None and np.isfinite(v)}
                                      for m in members)))
    if not archs:
        return {}
    ranks = np.stack([rankdata([scores[m][a] for a in archs]) for m in members])
    combined = ranks.sum(0) if rule == "sum" else ranks.min(0)
    return dict(zip(archs, map(float, combined), strict=True))
