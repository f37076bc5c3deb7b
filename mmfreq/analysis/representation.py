"""Representation diversity measures of FDAM's analysis (supplementary sections F and G, Fig. 4-5).

* :func:`effective_rank` — eq. 35: ``exp(-sum_i p_i log p_i)`` with ``p_i = s_i / sum_j s_j`` the
  normalised singular values. A matrix with ``k`` equal non-zero singular values has effective
  rank exactly ``k``; a rank-one matrix has 1.
* :func:`mean_token_cosine_similarity` — eq. 36: ``2 / (n (n-1)) sum_{i<j} |<x_i, x_j>| /
  (|x_i| |x_j|)`` over the ``n`` token rows of a feature matrix; 1 for identical (or parallel)
  tokens, 0 for mutually orthogonal ones.
* :func:`cross_layer_similarity` — Fig. 5: the matrix ``M[i, j]`` of the mean cosine similarity
  between the representation of the same token at layers ``i`` and ``j`` (the paper gives no
  formula; this token-aligned form is our reading of "cross-layer similarity"; ``M`` is symmetric
  with a unit diagonal).

All accept a leading batch: ``(..., n, d)`` inputs give one value per matrix, and the ``*_mean``
helpers average over the batch. Computations are in float64.
"""
from typing import Sequence

import torch

__all__ = ['effective_rank', 'mean_token_cosine_similarity', 'cross_layer_similarity',
           'normalized_singular_values']


def _float64(x: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(x).detach().to(torch.float64)


def normalized_singular_values(matrix: torch.Tensor) -> torch.Tensor:
    """Singular values of ``(..., n, d)`` matrices divided by their sum (``(..., min(n, d))``); a
    zero matrix gives all zeros."""
    singular = torch.linalg.svdvals(_float64(matrix))
    total = singular.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, singular / total.clamp_min(1e-300), torch.zeros_like(singular))


def effective_rank(matrix: torch.Tensor) -> torch.Tensor:
    """Effective rank (supplementary eq. 35) of ``(..., n, d)`` matrices, ``(...)`` float64.

    ``0 log 0`` is taken as 0; a zero matrix has effective rank 1 (``exp(0)``) by this convention.
    """
    p = normalized_singular_values(matrix)
    entropy = -(torch.where(p > 0, p * torch.log(p.clamp_min(1e-300)), torch.zeros_like(p))
                ).sum(dim=-1)
    return torch.exp(entropy)


def _unit_rows(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(eps)


def mean_token_cosine_similarity(tokens: torch.Tensor, absolute: bool = True) -> torch.Tensor:
    """Mean pairwise token cosine similarity (supplementary eq. 36) of ``(..., n, d)`` token
    matrices, ``(...)`` float64, ``n >= 2``.

    ``absolute=True`` (eq. 36) averages ``|cos|``; False averages the signed cosine.
    """
    x = _float64(tokens)
    n = x.shape[-2]
    if n < 2:
        raise ValueError(f'need at least 2 tokens, got {n}')
    unit = _unit_rows(x)
    gram = unit @ unit.transpose(-2, -1)
    if absolute:
        gram = gram.abs()
    off_diagonal = gram.sum(dim=(-2, -1)) - torch.diagonal(gram, dim1=-2, dim2=-1).sum(dim=-1)
    return off_diagonal / (n * (n - 1))


def cross_layer_similarity(features: Sequence[torch.Tensor], absolute: bool = False
                           ) -> torch.Tensor:
    """``(L, L)`` matrix of the mean cosine similarity between the same tokens at two layers.

    Args:
        features: ``L`` tensors ``(..., n, d)`` of the same shape (token rows aligned).
        absolute: average ``|cos|`` instead of the signed cosine.
    """
    if not features:
        raise ValueError('need at least one layer')
    shapes = {tuple(f.shape) for f in features}
    if len(shapes) != 1:
        raise ValueError('cross-layer similarity needs features of one shape, got '
                         f'{sorted(shapes)}')
    units = [_unit_rows(_float64(f)) for f in features]
    num = len(units)
    matrix = torch.empty(num, num, dtype=torch.float64)
    for i in range(num):
        for j in range(i, num):
            cos = (units[i] * units[j]).sum(dim=-1)
            if absolute:
                cos = cos.abs()
            matrix[i, j] = matrix[j, i] = cos.mean()
    return matrix
