"""MMD with a mixture of RBF kernels against hand-computed values."""

import math

import pytest
import torch

from proxies.d3.mmd import BANDWIDTHS, mmd2


def test_mmd_of_two_points_with_one_kernel_matches_hand_computation():
    x, y = torch.tensor([[0.0]]), torch.tensor([[1.0]])
    # k(x,x) = k(y,y) = 1, k(x,y) = exp(-1 / 2)
    assert float(mmd2(x, y, (1.0,))) == pytest.approx(2 - 2 * math.exp(-0.5), rel=1e-6)


def test_mmd_of_unequal_samples_matches_hand_computation():
    x, y = torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0]])
    kxx = (1 + 1 + 2 * math.exp(-4 / 2)) / 4
    kxy = math.exp(-1 / 2)  # both points are 1 away from y
    assert float(mmd2(x, y, (1.0,))) == pytest.approx(kxx + 1 - 2 * kxy, rel=1e-6)


def test_mmd_kernel_is_the_sum_over_the_five_d3_bandwidths():
    x, y = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])  # distance 5
    expected = 2 * 5 - 2 * sum(math.exp(-25 / (2 * s * s)) for s in (1, 2, 4, 8, 16))
    assert BANDWIDTHS == (1.0, 2.0, 4.0, 8.0, 16.0)
    assert float(mmd2(x, y)) == pytest.approx(expected, rel=1e-6)


def test_mmd_is_zero_for_identical_samples_and_positive_for_shifted_ones():
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    assert abs(float(mmd2(x, x.clone()))) < 1e-5
    assert float(mmd2(x, x + 1.0)) > 1e-2


def test_mmd_rejects_samples_of_different_dimension():
    with pytest.raises(ValueError, match="mmd2 needs"):
        mmd2(torch.zeros(3, 2), torch.zeros(3, 4))
