"""D2M losses checked against values computed by hand."""

import math

import pytest
import torch

from proxies.d2m.losses import (
    attention_map,
    d2m_loss,
    embedding_matching_loss,
    prediction_matching_loss,
)


def test_attention_map_sums_abs_channels_and_normalises_per_sample():
    f = torch.tensor([[[[3.0, 0.0]], [[-1.0, 0.0]]],   # sample 0: channel sums |.| = [4, 0]
                      [[[1.0, -2.0]], [[2.0, 2.0]]]])  # sample 1: [3, 4]
    a = attention_map(f)
    assert a.shape == (2, 2)
    assert torch.allclose(a, torch.tensor([[1.0, 0.0], [0.6, 0.8]]))


def test_attention_map_power_p_squares_before_summing():
    f = torch.tensor([[[[1.0, 2.0]], [[1.0, 0.0]]]])  # p=2: [1+1, 4+0] = [2, 4]
    expected = torch.tensor([[2.0, 4.0]]) / math.sqrt(20)
    assert torch.allclose(attention_map(f, p=2), expected)


def _attention_by_definition(f, p):
    """sum_c |f[n, c, h, w]|^p for each position, divided by the L2 norm over positions."""
    n, c, h, w = f.shape
    rows = []
    for i in range(n):
        a = [sum(abs(float(f[i, k, y, x])) ** p for k in range(c))
             for y in range(h) for x in range(w)]
        norm = math.sqrt(sum(v * v for v in a))
        rows.append([v / norm for v in a])
    return torch.tensor(rows)


@pytest.mark.parametrize("p", [1.0, 2.0, 4.0])
def test_attention_map_matches_its_definition(p):
    f = torch.randn(3, 4, 3, 5, generator=torch.Generator().manual_seed(0))
    expected = _attention_by_definition(f, p)
    assert torch.allclose(attention_map(f, p), expected, atol=1e-6)
    assert torch.allclose(attention_map(7.5 * f, p), expected, atol=1e-6)  # scale-free


def _maps(values):  # attention-ready maps (N, 1, 1, 2): the attention is |values| normalised
    return torch.tensor(values).view(-1, 1, 1, 2)


def test_embedding_matching_hand_computed_value():
    real_maps, syn_maps = [_maps([[1.0, 0.0]])], [_maps([[0.0, 1.0]])]
    real_e, syn_e = torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0, 0.0]])
    y = torch.tensor([0])
    # attention: ||[1,0]-[0,1]||^2 = 2; embedding: mean((1-0)^2) = 1
    loss = embedding_matching_loss(real_maps, syn_maps, real_e, syn_e, y, y)
    assert loss.item() == pytest.approx(3.0)


def test_embedding_matching_compares_class_means_not_samples():
    y = torch.tensor([0, 0])
    real_e = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    syn_e = torch.tensor([[0.0, 2.0], [2.0, 0.0]])  # other samples, same class mean
    maps = [_maps([[1.0, 0.0], [0.0, 1.0]])]
    swapped = [_maps([[0.0, 1.0], [1.0, 0.0]])]
    assert embedding_matching_loss(maps, swapped, real_e, syn_e, y, y).item() == 0.0


def test_embedding_matching_averages_over_classes():
    y = torch.tensor([0, 1])
    real_e, syn_e = torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [0.0]])
    maps = [_maps([[1.0, 0.0], [1.0, 0.0]])]
    loss = embedding_matching_loss(maps, maps, real_e, syn_e, y, y)
    assert loss.item() == pytest.approx((1.0 + 9.0) / 2)


def _kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))


def test_prediction_matching_is_kl_of_real_to_synthetic():
    real, syn = torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])
    p = torch.softmax(real, 1)[0].tolist()
    q = torch.softmax(syn, 1)[0].tolist()
    loss = prediction_matching_loss(real, syn, temperature=1.0).item()
    assert loss == pytest.approx(_kl(p, q), rel=1e-5)
    assert loss != pytest.approx(_kl(q, p), rel=1e-3)  # direction matters here


def test_prediction_matching_divides_logits_by_temperature_and_averages_pairs():
    real = torch.tensor([[8.0, 0.0], [0.0, 4.0]])
    syn = torch.tensor([[0.0, 4.0], [4.0, 4.0]])
    at_t4 = prediction_matching_loss(real, syn, temperature=4.0).item()
    expected = sum(_kl(torch.softmax(r / 4, 0).tolist(), torch.softmax(s / 4, 0).tolist())
                   for r, s in zip(real, syn, strict=True)) / 2
    assert at_t4 == pytest.approx(expected, rel=1e-5)
    assert at_t4 == pytest.approx(
        prediction_matching_loss(real / 4, syn / 4, temperature=1.0).item(), rel=1e-6)
    assert at_t4 < prediction_matching_loss(real, syn, temperature=1.0).item()


def test_prediction_matching_is_kl_real_to_synthetic_at_t4_by_default():
    gen = torch.Generator().manual_seed(1)
    real, syn = torch.randn(5, 10, generator=gen) * 3, torch.randn(5, 10, generator=gen) * 3
    pairs = [(torch.softmax(r / 4, 0).tolist(), torch.softmax(s / 4, 0).tolist())
             for r, s in zip(real, syn, strict=True)]
    expected = sum(_kl(p, q) for p, q in pairs) / len(pairs)  # KL(p_real || p_syn), T = 4
    reverse = sum(_kl(q, p) for p, q in pairs) / len(pairs)
    assert prediction_matching_loss(real, syn).item() == pytest.approx(expected, rel=1e-5)
    assert prediction_matching_loss(syn, real).item() == pytest.approx(reverse, rel=1e-5)
    assert abs(expected - reverse) > 1e-3 * expected  # the direction is visible in the value
    assert prediction_matching_loss(real, real.clone()).item() == pytest.approx(0.0, abs=1e-7)


def test_d2m_loss_weights_prediction_by_lambda_and_switches_terms():
    em, pm = torch.tensor(0.5), torch.tensor(0.02)
    assert d2m_loss(em, pm).item() == pytest.approx(0.5 + 100 * 0.02)
    assert d2m_loss(em, pm, lam=10).item() == pytest.approx(0.5 + 10 * 0.02)
    assert d2m_loss(em, None).item() == pytest.approx(0.5)
    assert d2m_loss(None, pm).item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="at least one"):
        d2m_loss(None, None)
