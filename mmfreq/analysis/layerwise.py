"""Layer-by-layer analyses over recorded blocks (:class:`~mmfreq.analysis.hooks.BlockRecord`), the
computations behind the ``tools/analysis`` plots.

* :func:`frequency_responses` — per block: the local response of its attention (mean of
  ``|F(W^A_pq)|`` over positions, heads and images; supplementary eq. 10), the global response of
  its attention ``|F(Y)| / |F(V)|`` (eq. 2; ``V`` the values, ``Y`` the attention output before
  the output projection, with AttInv when the block has it), and the response of the whole block
  ``|F(out)| / |F(in)|`` (Fig. 6). All ``fftshift``-ed.
* :func:`representation_stats` — per block: effective rank (eq. 35) and mean pairwise token cosine
  similarity (eq. 36) of its output tokens, averaged over images (Fig. 4).
* :func:`cross_layer_matrices` — cross-layer similarity of consecutive blocks with outputs of one
  shape (Fig. 5; one matrix per such group, e.g. per stage of a hierarchical backbone).
* :func:`attinv_gate_maps` — AttInv's gates as maps ``(B, heads, H, W)`` (Fig. 7).
* :func:`summarize_response` — the numbers printed for a response map: DC, low band and high band
  means.
"""
from typing import Dict, List, Sequence

import torch

from .attention import attention_internals, heads_to_maps, is_attention_module
from .hooks import BlockRecord
from .representation import cross_layer_similarity, effective_rank, mean_token_cosine_similarity
from .spectral import band_mean, global_frequency_response, mean_local_frequency_response

__all__ = ['frequency_responses', 'representation_stats', 'cross_layer_matrices',
           'attinv_gate_maps', 'summarize_response', 'LOW_BAND', 'HIGH_BAND']

# radial frequency bands (cycles/sample) used in the printed summaries
LOW_BAND = (1e-9, 0.25)
HIGH_BAND = (0.25, 1.0)


def _attention_of(record: BlockRecord):
    attn = getattr(record.block, 'attn', None)
    if attn is None or record.attn_input is None or not is_attention_module(attn):
        return None
    device = next(attn.parameters()).device
    return attention_internals(attn, record.attn_input.to(device), record.hw_shape)


def frequency_responses(records: Sequence[BlockRecord]) -> List[Dict]:
    """Per block ``dict(name, layer, local, global)`` (module docstring); ``local`` / ``global``
    are None for blocks without supported softmax attention. Arrays are float64 tensors."""
    results = []
    for record in records:
        entry = dict(name=record.name, local=None, global_=None,
                     layer=global_frequency_response(record.input_map(), record.output_map()))
        internals = _attention_of(record)
        if internals is not None:
            prefix = record.num_prefix_tokens
            values = heads_to_maps(internals.values_full, record.hw_shape, prefix)
            output = heads_to_maps(internals.output_modulated, record.hw_shape, prefix)
            entry['global_'] = global_frequency_response(values.cpu(), output.cpu())
            entry['local'] = mean_local_frequency_response(internals.attn.cpu(), internals.kv_hw,
                                                           num_prefix_tokens=prefix)
        results.append(entry)
    return results


def summarize_response(response: torch.Tensor) -> Dict[str, float]:
    """``dict(dc, low, high)``: the response at DC and its means over :data:`LOW_BAND` and
    :data:`HIGH_BAND` (bands empty on tiny grids give NaN)."""
    summary = dict(dc=float(band_mean(response, 0.0, 1e-9)))
    for key, (low, high) in (('low', LOW_BAND), ('high', HIGH_BAND)):
        try:
            summary[key] = float(band_mean(response, low, high))
        except ValueError:
            summary[key] = float('nan')
    return summary


def representation_stats(records: Sequence[BlockRecord]) -> List[Dict]:
    """Per block ``dict(name, effective_rank, cosine_similarity)`` of its spatial output tokens,
    each the mean over the images of the batch."""
    stats = []
    for record in records:
        tokens = record.output_tokens()
        stats.append(dict(name=record.name,
                          effective_rank=float(effective_rank(tokens).mean()),
                          cosine_similarity=float(mean_token_cosine_similarity(tokens).mean())))
    return stats


def cross_layer_matrices(records: Sequence[BlockRecord]) -> List[Dict]:
    """``dict(names, matrix)`` for every run of consecutive blocks whose spatial outputs have one
    shape (a single run for a plain ViT)."""
    groups, current = [], []
    for record in records:
        if current and current[-1].output_tokens().shape != record.output_tokens().shape:
            groups.append(current)
            current = []
        current.append(record)
    if current:
        groups.append(current)
    return [dict(names=[r.name for r in group],
                 matrix=cross_layer_similarity([r.output_tokens() for r in group]))
            for group in groups]


def attinv_gate_maps(records: Sequence[BlockRecord]) -> List[Dict]:
    """Per block with AttInv: ``dict(name, lf, hf, lf_gamma, hf_gamma)`` with the gates as maps
    ``(B, heads, H, W)`` (None when that branch is absent) and the mean absolute gammas."""
    maps = []
    for record in records:
        internals = _attention_of(record)
        if internals is None or (internals.lf_gate is None and internals.hf_gate is None):
            continue
        height, width = record.hw_shape
        prefix = record.num_prefix_tokens

        def as_map(gate):
            if gate is None:
                return None
            gate = gate[:, :, prefix:].detach().cpu().to(torch.float64)
            return gate.reshape(gate.shape[0], gate.shape[1], height, width)

        attn = record.block.attn
        gammas = {}
        for key in ('lf_gamma', 'hf_gamma'):
            gamma = getattr(attn, key, None)
            gammas[key] = float(gamma.detach().abs().mean()) if gamma is not None else None
        maps.append(dict(name=record.name, lf=as_map(internals.lf_gate),
                         hf=as_map(internals.hf_gate), **gammas))
    return maps
