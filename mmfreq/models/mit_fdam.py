"""SegFormer's Mix Transformer (MiT) with FDAM (FDAM, ICCV 2025).

:class:`MixVisionTransformerFDAM` is mmseg's ``MixVisionTransformer`` plus the FDAM switches
``attn_inv`` (bool) and ``freq_scale`` (None or a FreqScale config dict), as for ViT
(:mod:`mmfreq.models.vit_fdam`). With both off the blocks are mmseg's own and stock SegFormer
checkpoints load unchanged. Parameter names added per block ``layers.{stage}.1.{j}``:
``attn.dy_freq_starrelu``, ``attn.dy_freq``, ``attn.dy_freq_2``, ``attn.lf_gamma``,
``attn.hf_gamma`` (AttInv) and ``freq_scale_1`` / ``freq_scale_2`` (FreqScale, used residually on
the attention and Mix-FFN branch outputs before drop path).

AttInv with spatial-reduction attention
---------------------------------------
MiT's attention takes queries from all ``N = H*W`` tokens but keys and values from the
``M = (H//r) * (W//r)`` tokens of the reduced map ``LN(sr(x))`` (``sr``: conv, kernel = stride = r).
``A`` is then ``N x M`` and ``V`` has ``M`` rows, so the release's high-pass ``V - A V`` (ViT,
``N = M``) is not defined. We define it as ``(E - Ã) V_full`` where

* ``V_full = x W_v + b_v``: full-resolution values, the input tokens through the *same* value
  projection (no new parameters);
* ``Ã`` (``N x N``) spreads each reduced key's attention weight uniformly over the ``r x r``
  pixels that reduced token covers: ``Ã[n, p] = A[n, m(p)] / r^2`` (pixels cropped away by the
  strided conv get 0). Rows of ``Ã`` sum to 1 like those of ``A``: it is a proper attention
  (low-pass) matrix at full resolution, and ``Ã V_full = A · avgpool_r(V_full)``.

So the high-pass term is ``V_full - A · avgpool_r(V_full)`` (computed with one extra value
projection of the pooled input and the same attention weights; never an ``N x N`` matrix).
Properties (tested): for ``r = 1`` it is exactly the release's ``V - A V``; it removes the DC
(``(E - Ã)`` annihilates token-constant maps, as ``E - A`` does); it needs no extra parameters.
The low-frequency term keeps the actual attention output ``y = A V``::

    y' = y + y * s_lf * lf_gamma + s_hf * (V_full - A · avgpool_r(V_full)) * hf_gamma

The simpler ``V_full - A V`` (reduced values) was rejected: ``V`` comes from ``LN(sr(x))``, a
different (normalised, learned) map, so ``V_full - A V`` is not a high-pass of anything and does
not vanish on constant inputs.
"""
import inspect
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmseg.models.backbones.mit import (EfficientMultiheadAttention, MixVisionTransformer,
                                        TransformerEncoderLayer)
from mmseg.models.utils import nchw_to_nlc, nlc_to_nchw
from mmseg.registry import MODELS
from torch import nn

from ..layers import FreqScaleBlockMixin
from ..layers.attinv_attention import attention_inversion
from .vit_fdam import AttInvGatesMixin, check_fdam_options, split_heads

__all__ = ['AttInvEfficientMultiheadAttention', 'FDAMMiTLayer', 'MixVisionTransformerFDAM']


class AttInvEfficientMultiheadAttention(AttInvGatesMixin, EfficientMultiheadAttention):
    """MiT's spatial-reduction attention with optional AttInv (module docstring for the math).

    :meth:`branch` returns ``proj_drop(out)`` without identity and drop path.
    """

    def __init__(self, *args, attn_inv: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.batch_first:
            raise ValueError('AttInvEfficientMultiheadAttention needs batch_first=True')
        self.attn_inv = attn_inv
        if attn_inv:
            self.init_attinv(self.embed_dims, self.num_heads)

    def reduce(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        """Key/value tokens: ``LN(sr(x))`` for ``sr_ratio > 1``, else x."""
        if self.sr_ratio == 1:
            return x
        return self.norm(nchw_to_nlc(self.sr(nlc_to_nchw(x, hw_shape))))

    def branch(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        x_kv = self.reduce(x, hw_shape)
        if not self.attn_inv:
            q, kv = x.transpose(0, 1), x_kv.transpose(0, 1)
            out = self.attn(query=q, key=kv, value=kv, need_weights=False)[0].transpose(0, 1)
            return self.proj_drop(out)
        (w_q, w_k, w_v), (b_q, b_k, b_v) = self.packed_projections()
        heads = self.num_heads
        q = split_heads(F.linear(x, w_q, b_q), heads)
        k = split_heads(F.linear(x_kv, w_k, b_k), heads)
        v = split_heads(F.linear(x_kv, w_v, b_v), heads)
        drop = self.attn.dropout if self.training else 0.0
        lf, hf = self.attinv_scales(x, heads)
        if self.sr_ratio == 1:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
            y = attention_inversion(y, v, lf, hf)
        else:
            # values at full resolution and average-pooled over each reduced token's r x r cell
            pooled = nchw_to_nlc(F.avg_pool2d(nlc_to_nchw(x, hw_shape), self.sr_ratio))
            v_full = split_heads(F.linear(x, w_v, b_v), heads)
            v_pool = split_heads(F.linear(pooled, w_v, b_v), heads)
            # one attention over [V, avgpool(V_full)]: the same A weighs both
            both = F.scaled_dot_product_attention(q, k, torch.cat([v, v_pool], dim=-1),
                                                  dropout_p=drop)
            y, y_pool = both.chunk(2, dim=-1)
            y = y + y * lf + hf * (v_full - y_pool)
        y = y.transpose(1, 2).reshape(x.shape)
        return self.proj_drop(F.linear(y, self.attn.out_proj.weight, self.attn.out_proj.bias))

    def forward(self, x, hw_shape, identity=None):
        if not self.attn_inv:
            return super().forward(x, hw_shape, identity)
        identity = x if identity is None else identity
        return identity + self.dropout_layer(self.branch(x, hw_shape))


class FDAMMiTLayer(FreqScaleBlockMixin, TransformerEncoderLayer):
    """MiT encoder layer with AttInv and/or FreqScale::

        a = attn.branch(norm1(x)); a = FreqScale1(a) + a; x = x + attn.dropout_layer(a)
        m = ffn.layers(norm2(x) as map); m = FreqScale2(m) + m; x = x + ffn.dropout_layer(m)
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 attn_inv: bool = False, freq_scale: Optional[dict] = None,
                 drop_rate: float = 0., attn_drop_rate: float = 0., drop_path_rate: float = 0.,
                 qkv_bias: bool = True, act_cfg=dict(type='GELU'), norm_cfg=dict(type='LN'),
                 batch_first: bool = True, sr_ratio: int = 1, with_cp: bool = False):
        super().__init__(embed_dims, num_heads, feedforward_channels, drop_rate=drop_rate,
                         attn_drop_rate=attn_drop_rate, drop_path_rate=drop_path_rate,
                         qkv_bias=qkv_bias, act_cfg=act_cfg, norm_cfg=norm_cfg,
                         batch_first=batch_first, sr_ratio=sr_ratio, with_cp=with_cp)
        self.attn = AttInvEfficientMultiheadAttention(
            embed_dims=embed_dims, num_heads=num_heads, attn_drop=attn_drop_rate,
            proj_drop=drop_rate, dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate),
            batch_first=batch_first, qkv_bias=qkv_bias, norm_cfg=norm_cfg, sr_ratio=sr_ratio,
            attn_inv=attn_inv)
        self.init_freq_scales(embed_dims, freq_scale)

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:

        def _inner_forward(x):
            a = self.attn_freq_scale(self.attn.branch(self.norm1(x), hw_shape), hw_shape)
            x = x + self.attn.dropout_layer(a)
            m = self.mlp_freq_scale(self.ffn.layers(nlc_to_nchw(self.norm2(x), hw_shape)))
            return x + self.ffn.dropout_layer(nchw_to_nlc(m))

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(_inner_forward, x, use_reentrant=False)
        return _inner_forward(x)


_MIT_SIGNATURE = inspect.signature(MixVisionTransformer.__init__)


@MODELS.register_module()
class MixVisionTransformerFDAM(MixVisionTransformer):
    """mmseg ``MixVisionTransformer`` (SegFormer MiT) with FDAM switches.

    Args:
        attn_inv (bool): AttInv in every block (spatial-reduction form, module docstring).
        freq_scale (dict | None): FreqScale config, or None. With ``mode='group'`` the groups
            must divide every stage width (MiT-B0: 32, 64, 160, 256).
        **kwargs: the stock ``MixVisionTransformer`` arguments.
    """

    def __init__(self, *args, attn_inv: bool = False, freq_scale: Optional[dict] = None,
                 **kwargs):
        bound = _MIT_SIGNATURE.bind(self, *args, **kwargs)
        bound.apply_defaults()
        opts = dict(bound.arguments)
        dims = [opts['embed_dims'] * heads for heads in opts['num_heads']]
        check_fdam_options(attn_inv, freq_scale, dims)
        super().__init__(*args, **kwargs)
        self.attn_inv = attn_inv
        self.freq_scale_cfg = freq_scale
        if not attn_inv and freq_scale is None:
            return  # the stock model, stock blocks
        dpr = torch.linspace(0, opts['drop_path_rate'], sum(opts['num_layers'])).tolist()
        cur = 0
        for stage, depth in enumerate(opts['num_layers']):
            self.layers[stage][1] = nn.ModuleList([
                FDAMMiTLayer(
                    embed_dims=dims[stage],
                    num_heads=opts['num_heads'][stage],
                    feedforward_channels=opts['mlp_ratio'] * dims[stage],
                    attn_inv=attn_inv,
                    freq_scale=freq_scale,
                    drop_rate=opts['drop_rate'],
                    attn_drop_rate=opts['attn_drop_rate'],
                    drop_path_rate=dpr[cur + j],
                    qkv_bias=opts['qkv_bias'],
                    act_cfg=opts['act_cfg'],
                    norm_cfg=opts['norm_cfg'],
                    with_cp=opts['with_cp'],
                    sr_ratio=opts['sr_ratios'][stage]) for j in range(depth)])
            cur += depth
