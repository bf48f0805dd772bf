"""The NAS-Bench-201 zero-cost reproduction: sampling, the released code's variants of the
scorers, and correlations that rank undefined scores last."""

import math

import pytest
import torch
from scipy import stats
from torch import nn

from nas.analysis import zero_cost
from nas.bench import zero_cost_literature as lit
from nas.core.trainer import build_seeded
from search_spaces import build_nb201

RESNET_LIKE = "nb201-11472"


def _net():
    return build_seeded(lambda: build_nb201(RESNET_LIKE, num_classes=10, im_size=16), 0)


def _batches(n=8):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(n, 3, 16, 16, generator=g), torch.arange(n) % 10)]


def test_every_prefix_of_the_sample_is_distinct_and_seeded():
    a, b = lit.sample_indices(1000, 0), lit.sample_indices(1000, 0)
    assert a == b and len(set(a)) == 1000 and a != sorted(a)
    assert lit.sample_indices(1000, 1) != a


def test_grad_norm_variants_share_one_backward_pass():
    toolkit, published = lit.grad_norm_both(_net(), _batches())
    assert toolkit == pytest.approx(zero_cost.grad_norm(_net(), _batches()))
    net = _net()
    net.train()
    nn.functional.cross_entropy(net(_batches()[0][0]), _batches()[0][1]).backward()
    convs = [m.weight.grad.norm() for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert published == pytest.approx(float(sum(convs)), rel=1e-6) and published < toolkit


def test_published_synflow_bypasses_batch_norm():
    value = lit.synflow_published(_net(), _batches())
    assert math.isfinite(value) and value > 0
    assert value != pytest.approx(zero_cost.synflow(_net(), _batches()))


def test_undefined_scores_rank_last_like_the_published_minus_infinity():
    truth = {t: {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0} for t in lit.TARGETS}
    scores = {"naswot": {"a": None, "b": 5.0, "c": 6.0, "d": 7.0}}
    row = lit.correlations(scores, truth)["naswot"]
    assert row["n"] == 4 and row["undefined"] == 1
    target = lit.TARGETS[0]
    assert row[target] == pytest.approx(1.0)
    assert row[f"{target}_defined"] == pytest.approx(
        stats.spearmanr([5, 6, 7], [2, 3, 4]).statistic)
    assert "| naswot | 4 |" in lit.markdown({
        "cells": {"naswot": 4}, "config": {"seed": 0}, "wall_seconds": 60, "threads": 1,
        "published": {}, "spearman": {"naswot": row}, "seconds_per_cell": {"naswot": 1.0}})


def test_intervals_pair_each_method_with_params_on_the_same_cells():
    truth = {a: float(i) for i, a in enumerate("abcdefgh")}
    scores = {"params": {a: v + (i % 3) for i, (a, v) in enumerate(truth.items())},
              "synflow": dict(truth)}
    out = lit.intervals(scores, truth, n_resamples=50)
    low, high = out["synflow"]["rho_ci"]
    assert low == pytest.approx(1.0) and high == pytest.approx(1.0)
    paired = out["synflow"]["minus_params"]
    assert paired["difference"] > 0 and paired["ci"][0] <= paired["difference"] <= paired["ci"][1]
    assert "minus_params" not in out["params"]


def test_resuming_keeps_scores_by_cell_and_refuses_another_protocol():
    previous = {"config": lit.LiteratureConfig(sample=10).to_dict(),
                "scores": {"naswot": {"nb201-11472": 3.0, "nb201-0": None}},
                "seconds_per_cell": {"naswot": 2.0}, "wall_seconds": 60.0}
    scores, seconds, wall = lit._resumed(previous, lit.LiteratureConfig(sample=10))
    resnet = lit.Nb201Spec.parse("nb201-11472").id
    assert scores["naswot"][resnet] == 3.0 and seconds["naswot"] == [2.0, 2.0] and wall == 60.0
    with pytest.raises(ValueError, match="cannot resume"):
        lit._resumed(previous, lit.LiteratureConfig(sample=10, naswot_batch_size=64))
