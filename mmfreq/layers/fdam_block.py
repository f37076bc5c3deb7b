"""Adding FDAM to a transformer block without copying code (FDAM, Chen et al., ICCV 2025).

FDAM changes a pre-norm transformer block in two places (docs/fdam.md; FDAM supplementary, section E):

* the attention is :class:`~mmfreq.layers.AttInvAttention` (skipped for blocks without softmax
  attention, e.g. LSKNet);
* each branch output ``z`` (attention, then MLP) goes through ``z = FreqScale(z) + z`` *before*
  layer scale and drop path, with modules named ``freq_scale_1`` (attention branch) and
  ``freq_scale_2`` (MLP branch). Class / register tokens are never frequency-scaled.

Intended use in a backbone block (this is exactly what :class:`FDAMBlock` does)::

    class MyBlock(FreqScaleBlockMixin, nn.Module):
        # freq_scale: None or dict(mode=..., num_filters=..., groups=..., size=..., ...)
        def __init__(self, dim, ..., freq_scale=None):
            super().__init__()
            ...                                           # norm1, attn, norm2, mlp, ...
            self.init_freq_scales(dim, freq_scale)        # freq_scale_1 / freq_scale_2 (or None)

        def forward(self, x, hw_shape):                   # x: (B, prefix + H*W, C)
            a = self.attn(self.norm1(x))
            a = self.attn_freq_scale(a, hw_shape, num_prefix_tokens=1)   # a = FS1(a) + a
            x = x + self.drop_path(self.gamma_1 * a)
            m = self.mlp(self.norm2(x))
            m = self.mlp_freq_scale(m, hw_shape, num_prefix_tokens=1)    # m = FS2(m) + m
            return x + self.drop_path(self.gamma_2 * m)

Blocks that work on maps ``(B, C, H, W)`` (LSKNet) call the same methods without ``hw_shape``.
With ``freq_scale=None`` both attributes are None, the methods return their input unchanged and the
block's parameters (hence its checkpoints) are those of the plain block.
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import nn

from .attinv_attention import AttInvAttention, attinv_num_params
from .freq_scale import FreqScale, freq_scale_num_params

FREQ_SCALE_CFG_KEYS = ('mode', 'num_filters', 'groups', 'size', 'reweight_ratio', 'init_scale')


def build_freq_scale(dim: int, freq_scale: Optional[dict]) -> Optional[FreqScale]:
    """A :class:`FreqScale` for ``dim`` channels from a config dict, or None for ``None``.

    Accepted keys: ``mode, num_filters, groups, size, reweight_ratio, init_scale`` (FreqScale's
    options); anything else raises ValueError.
    """
    if freq_scale is None:
        return None
    if not isinstance(freq_scale, dict):
        raise ValueError(f'freq_scale must be None or a dict with keys from {FREQ_SCALE_CFG_KEYS}, '
                         f'got {freq_scale!r}')
    unknown = sorted(set(freq_scale) - set(FREQ_SCALE_CFG_KEYS))
    if unknown:
        raise ValueError(f'freq_scale has unknown keys {unknown}; allowed: {FREQ_SCALE_CFG_KEYS}')
    return FreqScale(dim, **freq_scale)


def tokens_to_map(tokens: torch.Tensor, hw_shape: Tuple[int, int]) -> torch.Tensor:
    """``(B, H*W, C)`` tokens (row-major over H, W) -> ``(B, C, H, W)`` map."""
    batch, num_tokens, channels = tokens.shape
    height, width = hw_shape
    if num_tokens != height * width:
        raise ValueError(f'{num_tokens} spatial tokens do not match hw_shape={tuple(hw_shape)}')
    return tokens.transpose(1, 2).reshape(batch, channels, height, width)


def map_to_tokens(feature_map: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` map -> ``(B, H*W, C)`` tokens."""
    return feature_map.flatten(2).transpose(1, 2)


def freq_scale_residual(freq_scale: Optional[nn.Module], x: torch.Tensor,
                        hw_shape: Optional[Sequence[int]] = None,
                        num_prefix_tokens: int = 0) -> torch.Tensor:
    """``z = freq_scale(z) + z`` on the spatial part of ``x``; prefix tokens pass unchanged.

    Args:
        freq_scale: a :class:`FreqScale` or None (then ``x`` is returned as is).
        x: tokens ``(B, num_prefix_tokens + H*W, C)`` with ``hw_shape=(H, W)``, or a map
            ``(B, C, H, W)`` (then ``hw_shape`` and ``num_prefix_tokens`` are not used).
        hw_shape: ``(H, W)`` of the token grid.
        num_prefix_tokens: leading tokens (class, distillation, register tokens) left untouched.

    Returns:
        A tensor shaped like ``x``.
    """
    if freq_scale is None:
        return x
    if x.dim() == 4:
        return freq_scale(x) + x
    if x.dim() != 3 or hw_shape is None:
        raise ValueError('freq_scale_residual expects a (B, C, H, W) map, or (B, N, C) tokens '
                         f'with hw_shape; got shape {tuple(x.shape)} and hw_shape={hw_shape}')
    patches = x[:, num_prefix_tokens:]
    scaled = map_to_tokens(freq_scale(tokens_to_map(patches, tuple(hw_shape))))
    if not num_prefix_tokens:
        return patches + scaled
    out = x.clone()  # one copy; the prefix tokens keep their values (and an identity gradient)
    out[:, num_prefix_tokens:] += scaled
    return out


class FreqScaleBlockMixin:
    """Mixin giving an ``nn.Module`` block FDAM's ``freq_scale_1`` / ``freq_scale_2``.

    Call :meth:`init_freq_scales` in ``__init__`` (after ``nn.Module.__init__``), then wrap the
    attention-branch output with :meth:`attn_freq_scale` and the MLP-branch output with
    :meth:`mlp_freq_scale`, before layer scale / drop path (module docstring).
    """

    def init_freq_scales(self, dim: int, freq_scale: Optional[dict]) -> None:
        self.freq_scale_1 = build_freq_scale(dim, freq_scale)
        self.freq_scale_2 = build_freq_scale(dim, freq_scale)

    def attn_freq_scale(self, x: torch.Tensor, hw_shape: Optional[Sequence[int]] = None,
                        num_prefix_tokens: int = 0) -> torch.Tensor:
        return freq_scale_residual(self.freq_scale_1, x, hw_shape, num_prefix_tokens)

    def mlp_freq_scale(self, x: torch.Tensor, hw_shape: Optional[Sequence[int]] = None,
                       num_prefix_tokens: int = 0) -> torch.Tensor:
        return freq_scale_residual(self.freq_scale_2, x, hw_shape, num_prefix_tokens)


def fdam_num_params(dim: int, depth: int, num_heads: int, attn_inv: bool = True,
                    freq_scale: Optional[dict] = None) -> int:
    """Parameters FDAM adds to ``depth`` ViT blocks of width ``dim``: per block the AttInv extras
    (``attinv_num_params(..., extra_only=True)``) and two FreqScale modules."""
    per_block = attinv_num_params(dim, num_heads, extra_only=True) if attn_inv else 0
    if freq_scale is not None:
        per_block += 2 * freq_scale_num_params(dim, **{k: v for k, v in freq_scale.items()
                                                       if k != 'init_scale'})
    return depth * per_block


def drop_path(x: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples with probability ``drop_prob``, rescale the rest."""
    if drop_prob == 0. or not training:
        return x
    keep = 1 - drop_prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask / keep


class DropPath(nn.Module):
    """Module form of :func:`drop_path`."""

    def __init__(self, drop_prob: float = 0.):
        super().__init__()
        if not 0 <= drop_prob < 1:
            raise ValueError(f'drop_path must be in [0, 1), got {drop_prob!r}')
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)


class Mlp(nn.Module):
    """Transformer MLP ``fc1 -> GELU -> drop -> fc2 -> drop`` (release names ``fc1``, ``fc2``)."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class FDAMBlock(FreqScaleBlockMixin, nn.Module):
    """Pre-norm ViT block with FDAM, in the release's DeiT(-III) layout.

    Parameters: ``norm1``, ``attn`` (:class:`AttInvAttention`; plain attention with
    ``attn_inv=False``), ``norm2``, ``mlp.fc1``, ``mlp.fc2``, ``gamma_1``/``gamma_2`` (only with
    ``layer_scale_init``), ``freq_scale_1``/``freq_scale_2`` (only with ``freq_scale``)::

        a = attn(norm1(x)); a = FreqScale1(a) + a; x = x + drop_path(gamma_1 * a)
        m = mlp(norm2(x));  m = FreqScale2(m) + m; x = x + drop_path(gamma_2 * m)

    Shapes: ``forward(x, hw_shape, num_prefix_tokens=0)`` with x ``(B, prefix + H*W, C)``.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4., qkv_bias: bool = False,
                 drop: float = 0., attn_drop: float = 0., drop_path: float = 0.,
                 layer_scale_init: Optional[float] = None, attn_inv: bool = True,
                 freq_scale: Optional[dict] = None, norm_eps: float = 1e-6):
        super().__init__()
        if not isinstance(attn_inv, bool):
            raise ValueError(f'attn_inv must be True or False, got {attn_inv!r}')
        if mlp_ratio <= 0:
            raise ValueError(f'mlp_ratio must be > 0, got {mlp_ratio!r}')
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = AttInvAttention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop,
                                    proj_drop=drop, lf_dy_weight=attn_inv, hf_dy_weight=attn_inv)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        self.drop_path = DropPath(drop_path)
        if layer_scale_init is not None:
            self.gamma_1 = nn.Parameter(torch.full((dim,), float(layer_scale_init)))
            self.gamma_2 = nn.Parameter(torch.full((dim,), float(layer_scale_init)))
        else:
            self.gamma_1 = self.gamma_2 = None
        self.init_freq_scales(dim, freq_scale)

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int],
                num_prefix_tokens: int = 0) -> torch.Tensor:
        a = self.attn_freq_scale(self.attn(self.norm1(x)), hw_shape, num_prefix_tokens)
        if self.gamma_1 is not None:
            a = self.gamma_1 * a
        x = x + self.drop_path(a)
        m = self.mlp_freq_scale(self.mlp(self.norm2(x)), hw_shape, num_prefix_tokens)
        if self.gamma_2 is not None:
            m = self.gamma_2 * m
        return x + self.drop_path(m)
