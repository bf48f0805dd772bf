"""Paired bootstrap of a Spearman difference, checked against an independent computation."""

import math

import numpy as np
import pytest
from scipy import stats

from nas.analysis.metrics import paired_spearman_difference


def _independent(a, b, truth, n_resamples, seed, confidence=0.95):
    """Straight from the definition with scipy only: one index draw per resample, applied
    to both sources."""
    rng = np.random.default_rng(seed)
    n = len(truth)
    deltas = []
    for _ in range(n_resamples):
        i = rng.integers(0, n, size=n)
        ra = stats.spearmanr(np.asarray(a)[i], np.asarray(truth)[i]).statistic
        rb = stats.spearmanr(np.asarray(b)[i], np.asarray(truth)[i]).statistic
        if np.isfinite(ra) and np.isfinite(rb):
            deltas.append(ra - rb)
    tail = 100 * (1 - confidence) / 2
    return np.percentile(deltas, [tail, 100 - tail])


def test_paired_interval_equals_an_independent_computation():
    rng = np.random.default_rng(3)
    truth = rng.normal(size=40)
    a = truth + rng.normal(scale=0.5, size=40)
    b = truth + rng.normal(scale=1.5, size=40)
    got = paired_spearman_difference(a, b, truth, n_resamples=300, seed=7)
    low, high = _independent(a, b, truth, 300, 7)
    assert got.low == pytest.approx(low) and got.high == pytest.approx(high)
    assert got.difference == pytest.approx(stats.spearmanr(a, truth).statistic
                                           - stats.spearmanr(b, truth).statistic)
    assert got.low < got.difference < got.high and got.n == 40


def test_identical_sources_differ_by_exactly_zero_in_every_resample():
    rng = np.random.default_rng(0)
    truth, a = rng.normal(size=20), rng.normal(size=20)
    got = paired_spearman_difference(a, a, truth, n_resamples=200)
    assert (got.difference, got.low, got.high) == (0.0, 0.0, 0.0)


def test_pairing_narrows_the_interval_of_two_correlated_sources():
    """Two sources sharing most of their noise: unpaired intervals overlap widely, the
    paired one excludes zero."""
    rng = np.random.default_rng(1)
    truth = rng.normal(size=60)
    shared = rng.normal(scale=1.0, size=60)
    a = truth + shared
    b = truth + shared + rng.normal(scale=0.6, size=60)
    got = paired_spearman_difference(a, b, truth, n_resamples=500, seed=0)
    assert got.low > 0


def test_too_few_architectures_give_nan_bounds_and_bad_input_raises():
    got = paired_spearman_difference([1, 2], [2, 1], [1, 2])
    assert math.isnan(got.low) and math.isnan(got.high)
    with pytest.raises(ValueError):
        paired_spearman_difference([1, 2, 3], [1, 2], [1, 2, 3])
