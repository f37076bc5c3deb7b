"""Attention Inversion (AttInv) of FDAM (Chen et al., ICCV 2025; supplementary section C).

Softmax attention ``A`` (rows sum to 1) is a low-pass filter on the values (supplementary
eq. 11-24): its DC gain is 1 and every other frequency is attenuated. Its inversion ``E - A``
(eq. 28, 31) is the complementary high-pass filter, and ``(E - A) V = V - A V`` needs only the
attention output (eq. 33). AttInv mixes both with token- and head-wise dynamic weights
(eq. 34). Following the release (docs/fdam.md), with ``f = StarReLU(x)`` computed from this
module's input ``x`` (the normalised tokens the block passes to ``attn``)::

    y     = A V                                   # per head, (B, N, heads, head_dim)
    s_lf  = tanh(dy_freq_2(f))                    # (B, N, heads)
    s_hf  = 2 s^2 / (s^2 + 0.3678),  s = softplus(dy_freq(f))
    y'    = y + y * s_lf * lf_gamma + s_hf * (V - y) * hf_gamma
    out   = proj(y')

``s_lf``/``s_hf`` broadcast over each head's channels; ``lf_gamma``/``hf_gamma`` (``(dim,)``,
init 1e-5) are laid out like the concatenated heads. Because only ``y`` is needed, the fused
``F.scaled_dot_product_attention`` kernel computes it; the explicit path (softmax materialised) is
used when the attention maps are requested (``forward(x, return_attention=True)``).
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .layer_inputs import check_channels
from .star_relu import StarReLU

GAMMA_INIT = 1e-5  # lf_gamma / hf_gamma: AttInv starts as plain attention

# Offset of the high-frequency gate, as in the release (about exp(-1)).
HF_GATE_OFFSET = 0.3678


def low_frequency_gate(logits: torch.Tensor) -> torch.Tensor:
    """``s_lf = tanh(logits)``, in (-1, 1)."""
    return torch.tanh(logits)


def high_frequency_gate(logits: torch.Tensor) -> torch.Tensor:
    """``s_hf = 2 s^2 / (s^2 + 0.3678)`` with ``s = softplus(logits)``, in [0, 2)."""
    s_squared = F.softplus(logits) ** 2
    return 2 * s_squared / (s_squared + HF_GATE_OFFSET)


def invert_attention(attn: torch.Tensor) -> torch.Tensor:
    """High-pass inversion ``E - A`` of attention maps ``(..., N, N)`` (supplementary eq. 31).

    Rows of the result sum to 0 when rows of ``attn`` sum to 1, so the filter removes the DC
    (token-constant) part of whatever it is applied to.
    """
    eye = torch.eye(attn.shape[-1], dtype=attn.dtype, device=attn.device)
    return eye - attn


def attention_high_pass(values: torch.Tensor, attn_output: torch.Tensor) -> torch.Tensor:
    """``V - A V = (E - A) V`` (supplementary eq. 33), from the values and the attention output."""
    return values - attn_output


def attention_inversion(attn_output: torch.Tensor, values: torch.Tensor,
                        lf_scale: Optional[torch.Tensor] = None,
                        hf_scale: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``y + y * lf_scale + hf_scale * (V - y)``; a ``None`` scale drops its term.

    Args:
        attn_output: ``y = A V``, any shape.
        values: ``V``, same shape as ``y``.
        lf_scale: ``s_lf * lf_gamma`` broadcastable to ``y``, or None.
        hf_scale: ``s_hf * hf_gamma`` broadcastable to ``y``, or None.
    """
    # addcmul keeps the number of full-size temporaries low (it matters on CPU); the in-place
    # update is autograd-safe because addcmul saves its factors, never its output.
    out = attn_output
    if lf_scale is not None:
        out = torch.addcmul(attn_output, attn_output, lf_scale)
    if hf_scale is not None:
        high_pass = attention_high_pass(values, attn_output)
        if out is attn_output:
            out = torch.addcmul(attn_output, hf_scale, high_pass)
        else:
            out.addcmul_(hf_scale, high_pass)
    return out


def attinv_num_params(dim: int, num_heads: int, qkv_bias: bool = False,
                      lf_dy_weight: bool = True, hf_dy_weight: bool = True,
                      extra_only: bool = False) -> int:
    """Closed-form parameter count of :class:`AttInvAttention`.

    Standard attention: ``3*dim*dim (+3*dim) + dim*dim + dim``. AttInv adds, per enabled branch,
    ``dim*heads + heads`` (its Linear) ``+ dim`` (its gamma), plus 2 for the shared StarReLU.
    ``extra_only=True`` returns the AttInv addition alone.
    """
    branches = int(lf_dy_weight) + int(hf_dy_weight)
    extra = branches * (dim * num_heads + num_heads + dim) + (2 if branches else 0)
    if extra_only:
        return extra
    return 3 * dim * dim + (3 * dim if qkv_bias else 0) + dim * dim + dim + extra


class AttInvAttention(nn.Module):
    """Multi-head self-attention with Attention Inversion (FDAM; see the module docstring).

    Args:
        dim: token channels C.
        num_heads: number of heads; must divide ``dim``.
        qkv_bias: bias of the ``qkv`` Linear.
        qk_scale: logit scale; None means ``head_dim ** -0.5``.
        attn_drop: dropout on the attention maps (``attn_drop``).
        proj_drop: dropout after ``proj`` (``proj_drop``).
        lf_dy_weight: build the low-frequency branch (``dy_freq_2``, ``lf_gamma``).
        hf_dy_weight: build the high-frequency branch (``dy_freq``, ``hf_gamma``).
            With both False the module has only ``qkv``/``proj`` and is standard attention.

    Shapes: ``forward(x)`` with x ``(B, N, C)`` (or unbatched ``(N, C)``) returns the same
    shape; a class token may be among the N tokens. ``forward(x, return_attention=True)`` returns ``(out, attn)`` with ``attn`` the
    softmax maps ``(B, heads, N, N)`` (before attention dropout), computed on the explicit path.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = False,
                 qk_scale: Optional[float] = None, attn_drop: float = 0., proj_drop: float = 0.,
                 lf_dy_weight: bool = True, hf_dy_weight: bool = True, device=None, dtype=None):
        super().__init__()
        for name, value in (('dim', dim), ('num_heads', num_heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        if dim % num_heads != 0:
            raise ValueError(f'num_heads must divide dim, got dim={dim}, num_heads={num_heads}')
        for name, value in (('attn_drop', attn_drop), ('proj_drop', proj_drop)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 <= value < 1:
                raise ValueError(f'{name} must be a float in [0, 1), got {value!r}')
        if qk_scale is not None and (isinstance(qk_scale, bool)
                                     or not isinstance(qk_scale, (int, float)) or qk_scale <= 0):
            raise ValueError(f'qk_scale must be None or a number > 0, got {qk_scale!r}')
        for name, value in (('qkv_bias', qkv_bias), ('lf_dy_weight', lf_dy_weight),
                            ('hf_dy_weight', hf_dy_weight)):
            if not isinstance(value, bool):
                raise ValueError(f'{name} must be True or False, got {value!r}')

        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = float(qk_scale) if qk_scale is not None else self.head_dim ** -0.5
        self.lf_dy_weight = lf_dy_weight
        self.hf_dy_weight = hf_dy_weight

        factory = dict(device=device, dtype=dtype)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias, **factory)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim, **factory)
        self.proj_drop = nn.Dropout(proj_drop)
        if lf_dy_weight or hf_dy_weight:
            self.dy_freq_starrelu = StarReLU(**factory)
        if lf_dy_weight:
            self.dy_freq_2 = nn.Linear(dim, num_heads, **factory)
            self.lf_gamma = nn.Parameter(torch.empty(dim, **factory))
        if hf_dy_weight:
            self.dy_freq = nn.Linear(dim, num_heads, **factory)
            self.hf_gamma = nn.Parameter(torch.empty(dim, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's init of the Linears, StarReLU scale 1 / bias 0, gammas 1e-5 (the
        release's)."""
        for module in self.children():
            if hasattr(module, 'reset_parameters'):
                module.reset_parameters()
        for gamma in ('lf_gamma', 'hf_gamma'):
            if hasattr(self, gamma):
                nn.init.constant_(getattr(self, gamma), GAMMA_INIT)

    def extra_repr(self) -> str:
        return (f'dim={self.dim}, num_heads={self.num_heads}, lf_dy_weight={self.lf_dy_weight}, '
                f'hf_dy_weight={self.hf_dy_weight}')

    def _dynamic_scales(self, x: torch.Tensor):
        """``(s_lf * lf_gamma, s_hf * hf_gamma)`` as ``(B, N, heads, head_dim)`` (or None)."""
        if not (self.lf_dy_weight or self.hf_dy_weight):
            return None, None
        gamma_shape = (self.num_heads, self.head_dim)
        feat = self.dy_freq_starrelu(x)
        lf_scale = hf_scale = None
        if self.lf_dy_weight:
            gate = low_frequency_gate(self.dy_freq_2(feat)).unsqueeze(-1)
            lf_scale = gate * self.lf_gamma.view(gamma_shape)
        if self.hf_dy_weight:
            gate = high_frequency_gate(self.dy_freq(feat)).unsqueeze(-1)
            hf_scale = gate * self.hf_gamma.view(gamma_shape)
        return lf_scale, hf_scale

    def forward(self, x: torch.Tensor, return_attention: bool = False
                ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        if x.dim() == 2:  # unbatched (N, C), as nn.MultiheadAttention accepts it
            out = self.forward(x.unsqueeze(0), return_attention)
            return (out[0][0], out[1][0]) if return_attention else out[0]
        if x.dim() != 3:
            raise ValueError(f'AttInvAttention expected a (B, N, C) or (N, C) input, got '
                             f'input{list(x.shape)}')
        check_channels('AttInvAttention', x, self.dim, dim=-1)
        batch, tokens, channels = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, head_dim)

        attn = None
        if return_attention:
            attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
            y = self.attn_drop(attn) @ v
        else:
            drop = self.attn_drop.p if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=self.scale)

        y = y.transpose(1, 2)  # (B, N, heads, head_dim)
        lf_scale, hf_scale = self._dynamic_scales(x)
        y = attention_inversion(y, v.transpose(1, 2), lf_scale, hf_scale)
        out = self.proj_drop(self.proj(y.reshape(batch, tokens, channels)))
        if return_attention:
            return out, attn
        return out
