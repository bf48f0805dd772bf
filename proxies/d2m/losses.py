"""D2M's matching losses as pure functions of tensors (paper Sec. 3, Eq. 2-5).

Embedding matching (L_EM): per layer, a spatial attention map sum_c |f_c|^p, flattened and
L2-normalised per image; the class-wise means of real and synthetic maps are matched with
squared error, plus an MSE between class-wise mean final embeddings.
Prediction matching (L_PM): KL(softmax(z_real / T) || softmax(z_syn / T)) over same-label pairs.
Total: L_EM + lambda * L_PM.

Reductions (docs/papers.md): each term is a per-class or per-pair average that does not grow
with the size of what it compares, so lambda keeps its meaning whatever the number of
classes, the batch size, the image size or the feature width:
- attention, per layer: squared L2 distance of unit-norm maps (between 0 and 4 whatever H*W),
  summed over the network's intermediate layers (paper Eq. 3);
- final embedding: mean over its D features of the squared difference (the paper's MSE);
- L_EM: mean over the classes present in both batches;
- L_PM: KL summed over the K outputs (its definition), mean over the pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def attention_map(features: torch.Tensor, p: float = 1.0) -> torch.Tensor:
    """Channel-wise attention of a feature map (N, C, H, W) -> (N, H*W), unit L2 norm per row.

    Example:
        >>> attention_map(torch.ones(2, 3, 4, 4)).norm(dim=1)
        tensor([1., 1.])
    """
    return F.normalize(features.abs().pow(p).sum(dim=1).flatten(1), dim=1)


def _class_means(x: torch.Tensor, labels: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """(K, D) mean of the rows of ``x`` (N, D) belonging to each of ``classes``."""
    onehot = (labels.unsqueeze(0) == classes.unsqueeze(1)).to(x.dtype)  # (K, N)
    return onehot @ x / onehot.sum(1, keepdim=True)


def embedding_matching_loss(real_maps: Sequence[torch.Tensor], syn_maps: Sequence[torch.Tensor],
                            real_embed: torch.Tensor, syn_embed: torch.Tensor,
                            real_labels: torch.Tensor, syn_labels: torch.Tensor, *,
                            p: float = 1.0) -> torch.Tensor:
    """L_EM, averaged over the classes present in both batches.

    Args:
        real_maps, syn_maps: per-layer feature maps (N, C_l, H_l, W_l), same layers in order.
        real_embed, syn_embed: final embeddings (N, D).
        real_labels, syn_labels: int64 (N,) labels of each batch.
        p: exponent of the attention map.

    Returns:
        Scalar: mean over classes of [sum over layers of ||mean a_real - mean a_syn||^2
        + mean((mean e_real - mean e_syn)^2)]; does not change when classes with the same
        per-class terms are added.
    """
    classes = torch.unique(real_labels)
    classes = classes[torch.isin(classes, syn_labels)]
    loss = real_embed.new_zeros(())
    for f_real, f_syn in zip(real_maps, syn_maps, strict=True):
        diff = (_class_means(attention_map(f_real, p), real_labels, classes)
                - _class_means(attention_map(f_syn, p), syn_labels, classes))
        loss = loss + diff.pow(2).sum()
    diff = (_class_means(real_embed.flatten(1), real_labels, classes)
            - _class_means(syn_embed.flatten(1), syn_labels, classes))
    return (loss + diff.pow(2).mean(dim=1).sum()) / max(len(classes), 1)


def prediction_matching_loss(real_logits: torch.Tensor, syn_logits: torch.Tensor, *,
                             temperature: float = 4.0) -> torch.Tensor:
    """L_PM = mean over pairs i of KL(softmax(real_i / T) || softmax(syn_i / T)).

    Row i of both logit tensors (N, K) must share a label. The real distribution is the
    target (first argument of KL); no T^2 factor (the paper states none).
    """
    target = F.log_softmax(real_logits / temperature, dim=1)
    return F.kl_div(F.log_softmax(syn_logits / temperature, dim=1), target,
                    reduction="batchmean", log_target=True)


def d2m_loss(em: torch.Tensor | None, pm: torch.Tensor | None, *, lam: float = 100.0
             ) -> torch.Tensor:
    """L_EM + lam * L_PM; a term given as None is switched off (the paper's ablation)."""
    if em is None and pm is None:
        raise ValueError("D2M needs at least one of embedding and prediction matching")
    if pm is None:
        return em
    return lam * pm if em is None else em + lam * pm
