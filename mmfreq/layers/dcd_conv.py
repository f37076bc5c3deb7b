"""DCD: dynamic convolution decomposition (Li, Chen, Dai, Liu, Chen, Yu, Yuan, Liu, Chen and
Vasconcelos, "Revisiting Dynamic Convolution via Matrix Decomposition", ICLR 2021), one of the
dynamic convolutions FDConv (CVPR 2025) compares with in its Table 1.

Written after the authors' code (liyunsheng13/dcd, ``conv_dy`` in ``models/imagenet/resnet_dcd.py``),
whose parameter names this layer keeps, so its state dicts load. Decisions where the paper and
the code differ (the BatchNorms, the hard sigmoid scaled to [0, 2], the 1x1 dynamic path of a
k x k conv): docs/dynamic-convs.md#dcd.
"""
import math
from typing import Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .dynamic_conv_base import DynamicConv2dBase, check_option, pooled

__all__ = ['DCDConv2d']

_IntPair = Union[int, Tuple[int, int]]


def hard_sigmoid_2(x: torch.Tensor) -> torch.Tensor:
    """The reference's ``Hsigmoid``: ``relu6(x + 3) / 3``, in [0, 2] (torch's ``hardsigmoid``
    divides by 6)."""
    return F.relu6(x + 3.0) / 3.0


class _SqueezeGate(nn.Module):
    """The reference's ``SEModule_small``: ``x * hard_sigmoid_2(fc(x))`` on ``(B, C)``."""

    def __init__(self, channels: int, factory_kwargs: dict):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, channels, bias=False, **factory_kwargs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * hard_sigmoid_2(self.fc(x))


class DCDConv2d(DynamicConv2dBase):
    """DCD, an ``nn.Conv2d`` drop-in: a static conv scaled per output channel plus a dynamic
    low-rank residual in a latent space of L = ``int(sqrt(in))`` channels,
    ``W(x) = Lambda(x) W0 + P Phi(x) Q^T``.

    For x ``(B, in, H, W)``: ``y = GAP(x)`` ``(B, in)``, ``s = gate(fc(y))`` (``(B, S)``,
    ``S = max(in, L^2) // 16``), ``Lambda = hard_sigmoid_2(fc_scale(s))`` ``(B, out)``,
    ``Phi = fc_phi(s)`` ``(B, L, L)``;
    ``z = bn1(q(x))`` (1x1 conv ``in -> L`` with the layer's stride), ``z = bn2(Phi z) + z``
    (``bn2`` a BatchNorm1d over the L latent channels), output
    ``Lambda * conv(x) + p(z) (+ bias)`` (``p`` a 1x1 conv ``L -> out``). No per-sample kernel is
    formed: every term is a plain conv or a batched matrix product. Output as ``nn.Conv2d``.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, bias, padding_mode,
        device, dtype: as ``nn.Conv2d`` (``padding_mode='zeros'`` only). ``in_channels >= 16``
            (the authors' S is 0 below). The dynamic path is a strided 1x1 conv, so its output
            must have the conv's size: padding ``dilation * (k - 1) / 2`` (or ``'same'``).
        groups: 1 (``q``, ``Phi`` and ``p`` mix all channels; the authors define no grouped
            form).

    Parameters (reference names): ``conv`` (the static ``nn.Conv2d``, no bias), ``q``, ``p``,
    ``bn1``, ``bn2``, ``fc`` (``Linear(in, S)`` + gate), ``fc_phi``, ``fc_scale``, ``bias``.
    """

    layer_name = 'DCDConv2d'

    def __init__(self, in_channels: int, out_channels: int, kernel_size: _IntPair,
                 stride: _IntPair = 1, padding: Union[str, _IntPair] = 0,
                 dilation: _IntPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = 'zeros', device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)
        name = self.layer_name
        check_option(name, 'groups', groups, groups == 1,
                     '1 (DCD has no grouped form)')
        check_option(name, 'in_channels', in_channels, in_channels >= 16,
                     '>= 16 (the squeeze width max(in, L^2) // 16 is 0 below)')
        if self.padding == 'same':
            aligned = True
        elif self.padding == 'valid':
            aligned = self.kernel_size == (1, 1)
        else:
            aligned = all(2 * p == d * (k - 1) for p, d, k in
                          zip(self.padding, self.dilation, self.kernel_size))
        centred = tuple(d * (k - 1) / 2 for d, k in zip(self.dilation, self.kernel_size))
        check_option(name, 'padding', padding, aligned,
                     f"dilation * (kernel_size - 1) / 2 = {centred} or 'same', so that the "
                     f"strided 1x1 dynamic path gives the conv's output size")
        kw = self.factory_kwargs
        self.dim = int(math.sqrt(in_channels))
        squeeze = max(in_channels, self.dim ** 2) // 16
        self.conv = nn.Conv2d(in_channels, out_channels, self.kernel_size, self.stride,
                              self.padding, self.dilation, bias=False, **kw)
        self.q = nn.Conv2d(in_channels, self.dim, 1, self.stride, 0, bias=False, **kw)
        self.p = nn.Conv2d(self.dim, out_channels, 1, bias=False, **kw)
        self.bn1 = nn.BatchNorm2d(self.dim, **kw)
        self.bn2 = nn.BatchNorm1d(self.dim, **kw)
        self.fc = nn.Sequential(nn.Linear(in_channels, squeeze, bias=False, **kw),
                                _SqueezeGate(squeeze, kw))
        self.fc_phi = nn.Linear(squeeze, self.dim ** 2, bias=False, **kw)
        self.fc_scale = nn.Linear(squeeze, out_channels, bias=False, **kw)
        self.bias = nn.Parameter(torch.zeros(out_channels, **kw)) if bias else None
        with torch.no_grad():  # the reference ResNet's init of its convs: N(0, 2 / (k*k*out))
            for conv in (self.conv, self.q, self.p):
                fan_out = conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels
                conv.weight.normal_(0, math.sqrt(2.0 / fan_out))

    def dynamic_factors(self, x: torch.Tensor):
        """``(Lambda (B, out), Phi (B, L, L))`` for x ``(B, in, H, W)``."""
        squeezed = self.fc(pooled(x))
        phi = self.fc_phi(squeezed).view(x.shape[0], self.dim, self.dim)
        return hard_sigmoid_2(self.fc_scale(squeezed)), phi

    def _forward_batch(self, x: torch.Tensor) -> torch.Tensor:
        scale, phi = self.dynamic_factors(x)
        static = self.conv(x) * scale[:, :, None, None]
        latent = self.bn1(self.q(x))
        batch, _, height, width = latent.shape
        latent = latent.flatten(2)
        latent = self.bn2(torch.bmm(phi, latent)) + latent
        out = static + self.p(latent.view(batch, self.dim, height, width))
        if self.bias is not None:
            out = out + self.bias[:, None, None]
        return out
