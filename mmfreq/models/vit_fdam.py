"""mmseg's ``VisionTransformer`` (DeiT-S/B, class token) with FDAM switches (FDAM, ICCV 2025).

:class:`VisionTransformerFDAM` is the stock ``mmseg.models.VisionTransformer`` plus two options:

* ``attn_inv`` (bool): the attention of every layer becomes AttInv (docs/fdam.md, "AttInv"): with
  ``f`` the StarReLU of the attention input, ``y = A V`` and ``V`` the values (per head)::

      y' = y + y * tanh(dy_freq_2(f)) * lf_gamma + s_hf(dy_freq(f)) * (V - y) * hf_gamma

  then ``out_proj``. The extra parameters live in ``layers.{i}.attn``: ``dy_freq_starrelu``,
  ``dy_freq``, ``dy_freq_2``, ``lf_gamma``, ``hf_gamma`` (the release's names); the stock
  ``attn.attn.in_proj_*`` / ``attn.attn.out_proj`` weights keep their names and roles.
* ``freq_scale`` (None or dict(mode=..., num_filters=..., groups=..., size=..., reweight_ratio=...,
  init_scale=...)): ``layers.{i}.freq_scale_1`` after the attention branch and ``freq_scale_2``
  after the FFN branch, each used residually (``z = FreqScale(z) + z``) on the branch output
  before drop path / layer scale. The class token is never frequency-scaled: only the patch
  tokens, laid out as the ``(H, W)`` patch grid, go through FreqScale.

With ``attn_inv=False, freq_scale=None`` the layers are mmseg's own ``TransformerEncoderLayer``
objects: the model, its parameter names and its outputs are those of the stock backbone, and stock
checkpoints load unchanged. With FDAM on, stock checkpoints load with the FDAM parameters reported
missing (they keep their init, which makes the model start close to the stock one: the gammas are
1e-5 and the FreqScale weights ~1e-5).

The attention of a FDAM layer runs on ``F.scaled_dot_product_attention`` with the stock packed
``in_proj_weight``; with zero gammas it equals ``nn.MultiheadAttention``'s output.
"""
import inspect
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks.transformer import MultiheadAttention
from mmseg.models.backbones.vit import TransformerEncoderLayer, VisionTransformer
from mmseg.registry import MODELS
from torch import nn

from ..layers import FreqScaleBlockMixin, StarReLU
from ..layers.attinv_attention import (attention_inversion, high_frequency_gate,
                                       low_frequency_gate)
from ..layers.fdam_block import build_freq_scale

__all__ = ['AttInvGatesMixin', 'AttInvMultiheadAttention', 'FDAMTransformerEncoderLayer',
           'VisionTransformerFDAM', 'check_fdam_options', 'split_heads']


def check_fdam_options(attn_inv, freq_scale, dims: Sequence[int]) -> None:
    """Validate the FDAM switches at build time (clear ValueError naming the option)."""
    if not isinstance(attn_inv, bool):
        raise ValueError(f'attn_inv must be True or False, got {attn_inv!r}')
    for dim in dims:  # builds (and validates) a FreqScale; raises ValueError on bad options
        build_freq_scale(dim, freq_scale)


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``(B, N, C)`` -> ``(B, heads, N, C // heads)``."""
    batch, tokens, channels = x.shape
    return x.view(batch, tokens, num_heads, channels // num_heads).transpose(1, 2)


class AttInvGatesMixin:
    """AttInv's dynamic weights on an ``nn.Module`` holding an ``nn.MultiheadAttention`` ``attn``.

    Adds ``dy_freq_starrelu`` (StarReLU), ``dy_freq_2`` / ``dy_freq`` (Linear dim -> heads, bias)
    and ``lf_gamma`` / ``hf_gamma`` (``(dim,)``, init 1e-5), the release's names (docs/fdam.md).
    """

    def init_attinv(self, dim: int, num_heads: int) -> None:
        self.dy_freq_starrelu = StarReLU()
        self.dy_freq_2 = nn.Linear(dim, num_heads)
        self.dy_freq = nn.Linear(dim, num_heads)
        self.lf_gamma = nn.Parameter(torch.full((dim,), 1e-5))
        self.hf_gamma = nn.Parameter(torch.full((dim,), 1e-5))

    def attinv_scales(self, x: torch.Tensor, num_heads: int):
        """``(s_lf * lf_gamma, s_hf * hf_gamma)``, each ``(B, heads, N, head_dim)``, for x
        ``(B, N, C)``."""
        feat = self.dy_freq_starrelu(x)
        head_dim = x.shape[-1] // num_heads
        # gates (B, N, heads) -> (B, heads, N, 1); gammas laid out like the concatenated heads
        lf_gate = low_frequency_gate(self.dy_freq_2(feat)).transpose(1, 2).unsqueeze(-1)
        hf_gate = high_frequency_gate(self.dy_freq(feat)).transpose(1, 2).unsqueeze(-1)
        lf = lf_gate * self.lf_gamma.view(num_heads, 1, head_dim)
        hf = hf_gate * self.hf_gamma.view(num_heads, 1, head_dim)
        return lf, hf

    def packed_projections(self):
        """``(w_q, w_k, w_v)``, ``(b_q, b_k, b_v)`` (biases may be None) of ``self.attn``."""
        mha = self.attn
        if not mha._qkv_same_embed_dim or mha.bias_k is not None:
            raise ValueError('AttInv needs nn.MultiheadAttention with a packed in_proj_weight and '
                             'no add_bias_kv')
        weights = mha.in_proj_weight.chunk(3)
        biases = (None,) * 3 if mha.in_proj_bias is None else mha.in_proj_bias.chunk(3)
        return weights, biases


class AttInvMultiheadAttention(AttInvGatesMixin, MultiheadAttention):
    """mmcv ``MultiheadAttention`` (batch first) with optional AttInv; see the module docstring.

    :meth:`branch` returns the attention branch ``proj_drop(out_proj(y'))`` without the identity and
    the ``dropout_layer``, so the layer can insert FreqScale before drop path. ``forward`` keeps
    mmcv's contract (``identity + dropout_layer(branch)``) for self-attention.
    """

    def __init__(self, embed_dims: int, num_heads: int, attn_inv: bool = False, **kwargs):
        super().__init__(embed_dims, num_heads, **kwargs)
        if not self.batch_first:
            raise ValueError('AttInvMultiheadAttention needs batch_first=True')
        self.attn_inv = attn_inv
        if attn_inv:
            self.init_attinv(embed_dims, num_heads)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """Self-attention branch output for x ``(B, N, C)``."""
        if not self.attn_inv:
            xt = x.transpose(0, 1)
            out = self.attn(query=xt, key=xt, value=xt, need_weights=False)[0].transpose(0, 1)
            return self.proj_drop(out)
        (w_q, w_k, w_v), (b_q, b_k, b_v) = self.packed_projections()
        heads = self.num_heads
        q = split_heads(F.linear(x, w_q, b_q), heads)
        k = split_heads(F.linear(x, w_k, b_k), heads)
        v = split_heads(F.linear(x, w_v, b_v), heads)
        drop = self.attn.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)  # (B, heads, N, head_dim)
        lf, hf = self.attinv_scales(x, heads)
        y = attention_inversion(y, v, lf, hf)
        y = y.transpose(1, 2).reshape(x.shape)
        out = F.linear(y, self.attn.out_proj.weight, self.attn.out_proj.bias)
        return self.proj_drop(out)

    def forward(self, query, key=None, value=None, identity=None, **kwargs):
        if not self.attn_inv:
            return super().forward(query, key, value, identity, **kwargs)
        if (key is not None and key is not query) or (value is not None and value is not query) \
                or any(v is not None for v in kwargs.values()):
            raise ValueError('AttInvMultiheadAttention with attn_inv=True supports plain '
                             'self-attention only (no key/value/positions/masks)')
        identity = query if identity is None else identity
        return identity + self.dropout_layer(self.branch(query))


class FDAMTransformerEncoderLayer(FreqScaleBlockMixin, TransformerEncoderLayer):
    """mmseg ViT encoder layer with AttInv and/or FreqScale (pre-norm)::

        a = attn(ln1(x)); a = FreqScale1(a) + a; x = x + attn.dropout_layer(a)
        m = ffn.layers(ln2(x)); m = FreqScale2(m) + m; x = x + ffn.dropout_layer(ffn.gamma2(m))

    FreqScale acts on the patch tokens only (the first ``num_prefix_tokens`` tokens, the class
    token, pass unchanged). ``hw_shape`` is the patch grid; the backbone sets :attr:`hw_shape`
    before each forward, or it can be passed to :meth:`forward`.
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 attn_inv: bool = False, freq_scale: Optional[dict] = None,
                 num_prefix_tokens: int = 1, **kwargs):
        kwargs['attn_cfg'] = dict(kwargs.get('attn_cfg') or {}, attn_inv=attn_inv)
        super().__init__(embed_dims, num_heads, feedforward_channels, **kwargs)
        self.init_freq_scales(embed_dims, freq_scale)
        self.num_prefix_tokens = num_prefix_tokens
        self.hw_shape: Optional[Tuple[int, int]] = None

    def build_attn(self, attn_cfg):
        self.attn = AttInvMultiheadAttention(**attn_cfg)

    def forward(self, x: torch.Tensor, hw_shape: Optional[Sequence[int]] = None) -> torch.Tensor:
        hw_shape = self.hw_shape if hw_shape is None else tuple(hw_shape)
        if self.freq_scale_1 is not None and hw_shape is None:
            raise ValueError('FDAMTransformerEncoderLayer with freq_scale needs hw_shape')

        def _inner_forward(x):
            a = self.attn_freq_scale(self.attn.branch(self.norm1(x)), hw_shape,
                                     self.num_prefix_tokens)
            x = x + self.attn.dropout_layer(a)
            m = self.mlp_freq_scale(self.ffn.layers(self.norm2(x)), hw_shape,
                                    self.num_prefix_tokens)
            return x + self.ffn.dropout_layer(self.ffn.gamma2(m))

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(_inner_forward, x, use_reentrant=False)
        return _inner_forward(x)


_VIT_SIGNATURE = inspect.signature(VisionTransformer.__init__)


@MODELS.register_module()
class VisionTransformerFDAM(VisionTransformer):
    """mmseg ``VisionTransformer`` with FDAM switches (see the module docstring).

    Args:
        attn_inv (bool): AttInv in every layer. Default False.
        freq_scale (dict | None): FreqScale config (keys ``mode`` in 'static' / 'dynamic' /
            'group', ``num_filters``, ``groups``, ``size``, ``reweight_ratio``, ``init_scale``),
            or None (no FreqScale). Default None.
        **kwargs: the stock ``VisionTransformer`` arguments.
    """

    def __init__(self, *args, attn_inv: bool = False, freq_scale: Optional[dict] = None,
                 **kwargs):
        bound = _VIT_SIGNATURE.bind(self, *args, **kwargs)
        bound.apply_defaults()
        opts = dict(bound.arguments)
        check_fdam_options(attn_inv, freq_scale, [opts['embed_dims']])
        super().__init__(*args, **kwargs)
        self.attn_inv = attn_inv
        self.freq_scale_cfg = freq_scale
        if not attn_inv and freq_scale is None:
            return  # the stock model, stock layers
        dpr = torch.linspace(0, opts['drop_path_rate'], opts['num_layers']).tolist()
        self.layers = nn.ModuleList([
            FDAMTransformerEncoderLayer(
                embed_dims=opts['embed_dims'],
                num_heads=opts['num_heads'],
                feedforward_channels=opts['mlp_ratio'] * opts['embed_dims'],
                attn_inv=attn_inv,
                freq_scale=freq_scale,
                num_prefix_tokens=1 if self.with_cls_token else 0,
                attn_drop_rate=opts['attn_drop_rate'],
                drop_rate=opts['drop_rate'],
                drop_path_rate=dpr[i],
                num_fcs=opts['num_fcs'],
                qkv_bias=opts['qkv_bias'],
                act_cfg=opts['act_cfg'],
                norm_cfg=opts['norm_cfg'],
                with_cp=opts['with_cp'],
                batch_first=True) for i in range(opts['num_layers'])])
        self._freeze()
        # the stock forward calls layer(x): hand the patch grid to the layers as it is computed
        self.patch_embed.register_forward_hook(self._share_hw_shape)

    def _share_hw_shape(self, module, inputs, output) -> None:
        hw_shape = tuple(output[1])
        for layer in self.layers:
            layer.hw_shape = hw_shape
