import math

import numpy as np
import pytest

from nas.analysis import metrics

TRUTH = [0.9, 0.1, 0.8, 0.5, 0.7]
PROXY = [0.1, 0.0, 0.2, 0.05, 0.3]  # orders the top 3 by truth (idx 0, 2, 4) exactly backwards


def test_perfect_order_gives_one_and_reversed_gives_minus_one():
    truth = [0.1, 0.4, 0.5, 0.9]
    assert metrics.spearman([1, 2, 3, 4], truth) == pytest.approx(1.0)
    assert metrics.kendall([1, 2, 3, 4], truth) == pytest.approx(1.0)
    assert metrics.spearman([4, 3, 2, 1], truth) == pytest.approx(-1.0)
    assert metrics.kendall([4, 3, 2, 1], truth) == pytest.approx(-1.0)


def test_ties_use_average_ranks_and_tau_b():
    # ranks of the proxy: 1.5, 1.5, 3, 4 -> rho = 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10);
    # 5 concordant pairs, 1 tied in the proxy -> tau_b = 5 / sqrt(5 * 6)
    assert metrics.spearman([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(3 / math.sqrt(10))
    assert metrics.kendall([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(5 / math.sqrt(30))


def test_correlation_is_nan_when_undefined():
    assert math.isnan(metrics.spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(metrics.kendall([1], [2]))


def test_top_k_indices_are_the_best_by_value_best_first():
    assert list(metrics.top_k_indices(TRUTH, 3)) == [0, 2, 4]
    assert list(metrics.top_k_indices([1, 3, 3, 2], 2)) == [1, 2]  # tie: earlier index first


def test_top_k_correlation_uses_only_the_truly_best_architectures():
    assert metrics.spearman(PROXY, TRUTH) > 0
    assert metrics.top_k_correlation(PROXY, TRUTH, 3) == pytest.approx(-1.0)
    assert metrics.top_k_correlation(PROXY, TRUTH, 3, metrics.kendall) == pytest.approx(-1.0)
    assert math.isnan(metrics.top_k_correlation(PROXY, TRUTH, 6))


def test_top_k_overlap_counts_shared_members():
    # proxy's top 2: idx 4, 2; truth's top 2: idx 0, 2
    assert metrics.top_k_overlap(PROXY, TRUTH, 2) == pytest.approx(0.5)
    assert metrics.top_k_overlap(TRUTH, TRUTH, 3) == pytest.approx(1.0)


def test_selection_reports_the_proxys_pick_its_regret_and_true_rank():
    chosen = metrics.selection(PROXY, TRUTH)
    assert chosen.index == 4
    assert chosen.accuracy == pytest.approx(0.7)
    assert chosen.best == pytest.approx(0.9)
    assert chosen.regret == pytest.approx(0.2)
    assert chosen.rank == 3
    assert metrics.selection(TRUTH, TRUTH).regret == 0


def test_top_fraction_is_at_least_one_architecture():
    assert metrics.top_fraction_k(20) == 1
    assert metrics.top_fraction_k(100) == 5
    assert metrics.top_fraction_k(101) == 6


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(1)
    truth = rng.uniform(size=40)
    proxy = truth + rng.normal(0, 0.2, size=40)
    low, high = metrics.bootstrap_ci(proxy, truth, seed=3)
    assert low < metrics.spearman(proxy, truth) < high
    assert (low, high) == metrics.bootstrap_ci(proxy, truth, seed=3)
    assert (low, high) != metrics.bootstrap_ci(proxy, truth, seed=4)
    assert metrics.bootstrap_ci([1, 2, 3, 4], [1, 2, 3, 4]) == (1.0, 1.0)
    assert all(math.isnan(v) for v in metrics.bootstrap_ci([1, 2], [1, 2]))


def test_costs_compare_build_plus_proxy_training_with_full_training():
    c = metrics.costs(10.0, [1.0, 1.0], [10.0, 30.0])
    assert (c.mean_proxy_seconds, c.mean_full_seconds) == (1.0, 20.0)
    assert (c.total_proxy_seconds, c.total_full_seconds) == (12.0, 40.0)
    assert c.speedup == pytest.approx(40 / 12)
    assert c.pretrain_seconds == 0.0 and c.speedup_without_pretrain == c.speedup


def test_costs_count_a_generators_pre_training_in_the_total_and_apart():
    c = metrics.costs(10.0, [1.0, 1.0], [10.0, 30.0], pretrain_seconds=28.0)
    assert (c.build_seconds, c.pretrain_seconds) == (10.0, 28.0)
    assert c.total_proxy_seconds == 28.0 + 10.0 + 2.0
    assert c.speedup == pytest.approx(40 / 40)
    assert c.speedup_without_pretrain == pytest.approx(40 / 12)


def test_fidelity_holds_every_metric():
    result = metrics.fidelity(PROXY, TRUTH, n_resamples=50)
    assert set(result["top_k"]) == {"5", "10", "20", "top5%"}
    assert result["top_k"]["5"]["spearman"] == pytest.approx(metrics.spearman(PROXY, TRUTH))
    assert math.isnan(result["top_k"]["10"]["spearman"])
    assert result["selected"]["rank"] == 3
    assert len(result["spearman_ci"]) == len(result["kendall_ci"]) == 2


@pytest.mark.parametrize("proxy, truth", [([1, 2], [1, 2, 3]), ([1, float("nan")], [1, 2])])
def test_misaligned_or_missing_scores_are_rejected(proxy, truth):
    with pytest.raises(ValueError):
        metrics.spearman(proxy, truth)


def test_within_ranks_only_the_named_architectures_and_judges_their_pick():
    from scipy import stats as st

    from nas.analysis.metrics import within
    proxy = [0.9, 0.1, 0.5, 0.7, 0.3, 0.8]
    truth = [0.2, 0.9, 0.8, 0.7, 0.95, 0.1]
    members = [1, 2, 3, 4]  # the truth's top four
    w = within(proxy, truth, members, n_resamples=50)
    sub_p, sub_t = [proxy[i] for i in members], [truth[i] for i in members]
    assert w["n"] == 4
    assert w["spearman"] == pytest.approx(st.spearmanr(sub_p, sub_t).statistic)
    assert w["kendall"] == pytest.approx(st.kendalltau(sub_p, sub_t).statistic)
    assert w["regret"] == pytest.approx(0.95 - 0.7)  # picks index 3 among the four
