"""Model pool: feature shapes, fresh seeded inits, member validation."""

import pytest
import torch

from proxies.d2m.model_pool import ModelPool


def test_convnet_member_exposes_block_maps_embedding_and_logits():
    pool = ModelPool.for_data(3, 4, 16, width=32)
    feats = pool.draw(torch.Generator().manual_seed(0))(torch.randn(2, 3, 16, 16))
    assert [tuple(m.shape) for m in feats.maps] == [(2, 32, 8, 8), (2, 32, 4, 4)]
    assert feats.embedding.shape == (2, 32 * 2 * 2)
    assert feats.logits.shape == (2, 4)


def test_draws_are_reproducible_from_the_generator_and_fresh_each_time():
    pool = ModelPool.for_data(3, 2, 16, width=32)
    x = torch.randn(1, 3, 16, 16)
    rng_a, rng_b = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    first_a, first_b = pool.draw(rng_a)(x).logits, pool.draw(rng_b)(x).logits
    assert torch.equal(first_a, first_b)
    assert not torch.equal(first_a, pool.draw(rng_a)(x).logits)


def test_pool_at_32_pixels_includes_resnet18_with_features():
    pool = ModelPool.for_data(3, 10, 32)
    assert pool.members == ("convnet", "resnet18")
    resnet = ModelPool(3, 10, 32, ("resnet18",), resnet_width=8).draw(torch.Generator())
    feats = resnet(torch.randn(2, 3, 32, 32))
    assert len(feats.maps) == 3 and feats.embedding.shape == (2, 64)
    assert feats.logits.shape == (2, 10)


def test_unknown_member_or_size_is_rejected():
    with pytest.raises(ValueError, match="unknown model-pool members"):
        ModelPool(3, 10, 32, ("vit",))
    with pytest.raises(ValueError, match="no model-pool ConvNet depth"):
        ModelPool(3, 10, 20)
