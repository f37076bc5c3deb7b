"""Attention maps, values and AttInv gates of the attention modules mmfreq's backbones use, for the
frequency analyses of FDAM (supplementary sections A, C, H; Fig. 6 and 7).

:func:`attention_internals` recomputes, from an attention module's own weights and its input
tokens ``x`` (the output of the block's ``norm1``), everything the analyses need::

    A        softmax attention (B, heads, N, M)                    (supplementary eq. 4)
    V        values of the key tokens (B, heads, M, head_dim)
    V_full   values of all N query tokens (B, heads, N, head_dim): V itself when M == N; for
             spatial-reduction attention (SegFormer MiT), x through the same value projection
    y        A V (B, heads, N, head_dim)
    y_mod    the attention output before the output projection, with AttInv applied when the
             module has it (supplementary eq. 34; identical to y otherwise)
    s_lf, s_hf  AttInv's per-token, per-head gates (B, heads, N) or None

Supported modules: :class:`mmfreq.layers.AttInvAttention` (DeiT-III + FDAM, ``FDAMBlock``), mmcv's
``MultiheadAttention`` wrapper and mmfreq's AttInv subclass (mmseg ViT / DeiT-S), and mmseg's
``EfficientMultiheadAttention`` with mmfreq's AttInv subclass (SegFormer MiT). The recomputation is
checked against the modules' own outputs in the tests.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.attinv_attention import (AttInvAttention, attention_inversion,
                                       high_frequency_gate, low_frequency_gate)

__all__ = ['AttentionInternals', 'attention_internals', 'attinv_gates', 'is_attention_module',
           'heads_to_maps']


@dataclass
class AttentionInternals:
    """See the module docstring; ``kv_hw`` is the key grid (``None`` when unknown)."""
    attn: torch.Tensor
    values: torch.Tensor
    values_full: torch.Tensor
    output: torch.Tensor
    output_modulated: torch.Tensor
    lf_gate: Optional[torch.Tensor]
    hf_gate: Optional[torch.Tensor]
    kv_hw: Optional[Tuple[int, int]]


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    batch, tokens, channels = x.shape
    return x.view(batch, tokens, heads, channels // heads).transpose(1, 2)


def heads_to_maps(x: torch.Tensor, hw_shape: Tuple[int, int], num_prefix_tokens: int = 0
                  ) -> torch.Tensor:
    """Per-head tokens ``(B, heads, N, head_dim)`` -> maps ``(B, heads * head_dim, H, W)`` of the
    spatial tokens (heads concatenated along channels, as before the output projection)."""
    x = x[:, :, num_prefix_tokens:]
    batch, heads, tokens, head_dim = x.shape
    height, width = hw_shape
    if tokens != height * width:
        raise ValueError(f'{tokens} spatial tokens do not match hw_shape={tuple(hw_shape)}')
    return x.permute(0, 1, 3, 2).reshape(batch, heads * head_dim, height, width)


def attinv_gates(module: nn.Module, x: torch.Tensor
                 ) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """AttInv's gates ``(s_lf, s_hf)``, each ``(B, heads, N)`` or None, of a module holding the
    release's ``dy_freq_starrelu`` / ``dy_freq_2`` (low) / ``dy_freq`` (high) for tokens x
    ``(B, N, C)``: ``s_lf = tanh(dy_freq_2(f))``, ``s_hf = 2 s^2 / (s^2 + 0.3678)``, ``s =
    softplus(dy_freq(f))``, ``f = StarReLU(x)``. (Both None for a module without AttInv.)"""
    if not hasattr(module, 'dy_freq_starrelu'):
        return None, None
    feat = module.dy_freq_starrelu(x)
    lf = hf = None
    if getattr(module, 'dy_freq_2', None) is not None:
        lf = low_frequency_gate(module.dy_freq_2(feat)).transpose(1, 2)
    if getattr(module, 'dy_freq', None) is not None:
        hf = high_frequency_gate(module.dy_freq(feat)).transpose(1, 2)
    return lf, hf


def is_attention_module(module: nn.Module) -> bool:
    """Whether :func:`attention_internals` supports ``module``."""
    return isinstance(module, AttInvAttention) or isinstance(getattr(module, 'attn', None),
                                                             nn.MultiheadAttention)


def _scales(module: nn.Module, lf_gate, hf_gate, heads: int, head_dim: int):
    """Gates times the gammas, as ``(B, heads, N, head_dim)`` (None where absent)."""
    lf = hf = None
    if lf_gate is not None:
        lf = lf_gate.unsqueeze(-1) * module.lf_gamma.view(heads, 1, head_dim)
    if hf_gate is not None:
        hf = hf_gate.unsqueeze(-1) * module.hf_gamma.view(heads, 1, head_dim)
    return lf, hf


@torch.no_grad()
def attention_internals(module: nn.Module, x: torch.Tensor,
                        hw_shape: Optional[Tuple[int, int]] = None) -> AttentionInternals:
    """Recompute the attention of ``module`` on its input tokens ``x`` ``(B, N, C)``.

    Args:
        module: a supported attention module (module docstring).
        x: the tokens the module attends over (the block's ``norm1`` output).
        hw_shape: the spatial grid of the tokens (needed for spatial-reduction attention; used to
            report ``kv_hw``). Prefix tokens (class token) stay in every returned tensor
            (``kv_hw`` is the grid of the spatial keys); callers drop them.
    """
    if isinstance(module, AttInvAttention):
        heads, head_dim = module.num_heads, module.head_dim
        qkv = module.qkv(x).reshape(x.shape[0], x.shape[1], 3, heads, head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        scale = module.scale
        v_full = v
        x_pool = None
        kv_hw = tuple(hw_shape) if hw_shape is not None else None
    elif isinstance(getattr(module, 'attn', None), nn.MultiheadAttention):
        mha = module.attn
        if not mha._qkv_same_embed_dim:
            raise ValueError('attention_internals needs a packed in_proj_weight')
        heads = mha.num_heads
        head_dim = mha.embed_dim // heads
        scale = head_dim ** -0.5
        w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
        b_q, b_k, b_v = (None,) * 3 if mha.in_proj_bias is None else mha.in_proj_bias.chunk(3)
        x_kv, kv_hw, x_pool = x, (tuple(hw_shape) if hw_shape is not None else None), None
        ratio = getattr(module, 'sr_ratio', 1)
        if ratio > 1:  # SegFormer's spatial-reduction attention: keys/values from LN(sr(x))
            if hw_shape is None:
                raise ValueError('spatial-reduction attention needs hw_shape')
            grid = x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *hw_shape)
            reduced = module.sr(grid)
            kv_hw = tuple(reduced.shape[-2:])
            x_kv = module.norm(reduced.flatten(2).transpose(1, 2))
            x_pool = F.avg_pool2d(grid, ratio).flatten(2).transpose(1, 2)
        q = _split_heads(F.linear(x, w_q, b_q), heads)
        k = _split_heads(F.linear(x_kv, w_k, b_k), heads)
        v = _split_heads(F.linear(x_kv, w_v, b_v), heads)
        v_full = v if x_kv is x else _split_heads(F.linear(x, w_v, b_v), heads)
        if x_pool is not None:
            x_pool = _split_heads(F.linear(x_pool, w_v, b_v), heads)
    else:
        raise TypeError(f'unsupported attention module {type(module).__name__}')
    attn = ((q * scale) @ k.transpose(-2, -1)).softmax(dim=-1)
    y = attn @ v
    lf_gate, hf_gate = attinv_gates(module, x)
    y_mod = y
    if lf_gate is not None or hf_gate is not None:
        lf, hf = _scales(module, lf_gate, hf_gate, heads, head_dim)
        if x_pool is None:
            y_mod = attention_inversion(y, v_full, lf, hf)
        else:  # mit_fdam: high-pass V_full - A avgpool_r(V_full)
            y_pool = attn @ x_pool
            y_mod = y.clone()
            if lf is not None:
                y_mod = y_mod + y * lf
            if hf is not None:
                y_mod = y_mod + hf * (v_full - y_pool)
    return AttentionInternals(attn=attn, values=v, values_full=v_full, output=y,
                              output_modulated=y_mod, lf_gate=lf_gate, hf_gate=hf_gate,
                              kv_hw=kv_hw)
