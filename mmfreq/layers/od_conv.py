"""ODConv: omni-dimensional dynamic convolution (Li, Zhou and Yao, "Omni-Dimensional Dynamic
Convolution", ICLR 2022), one of the dynamic convolutions FDConv (CVPR 2025) compares with in
its Tables 1 and 2.

Written after the authors' code (OSVAI/ODConv, ``modules/odconv.py``), whose parameter names this
layer keeps, so its state dicts (and the released ODConv ResNet checkpoints' layers) load.
Decisions: docs/dynamic-convs.md#odconv.
"""
from typing import Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .dynamic_conv_base import (DynamicConv2dBase, PositiveTemperatureMixin, check_count,
                                check_fraction, mixed_kernels, pooled,
                                pooled_batch_norm)

__all__ = ['ODConv2d']

_IntPair = Union[int, Tuple[int, int]]


class _OmniAttention(nn.Module):
    """ODConv's four attentions from one squeezed descriptor: ``GAP -> fc (1x1 conv, no bias) ->
    BN -> ReLU``, then channel ``(B, in)``, filter ``(B, out)``, spatial ``(B, kh*kw)`` (sigmoids)
    and kernel ``(B, K)`` (softmax) heads, each divided by the temperature first. A head that
    the layer does not need (filter for a depthwise conv, spatial for 1x1, kernel for K = 1) is
    absent, its attention None (the reference's ``skip``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_area: int, depthwise: bool,
                 kernel_num: int, hidden: int, factory_kwargs: dict):
        super().__init__()
        kw = factory_kwargs
        self.fc = nn.Conv2d(in_channels, hidden, 1, bias=False, **kw)
        self.bn = nn.BatchNorm2d(hidden, **kw)
        self.channel_fc = nn.Conv2d(hidden, in_channels, 1, **kw)
        self.filter_fc = None if depthwise else nn.Conv2d(hidden, out_channels, 1, **kw)
        self.spatial_fc = nn.Conv2d(hidden, kernel_area, 1, **kw) if kernel_area > 1 else None
        self.kernel_fc = nn.Conv2d(hidden, kernel_num, 1, **kw) if kernel_num > 1 else None
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, pooled_x: torch.Tensor, temperature: float):
        hidden = pooled_batch_norm(self.bn, self.fc(pooled_x[:, :, None, None])).relu()

        def head(conv, activation):
            if conv is None:
                return None
            return activation(conv(hidden).flatten(1) / temperature)

        return (head(self.channel_fc, torch.sigmoid), head(self.filter_fc, torch.sigmoid),
                head(self.spatial_fc, torch.sigmoid),
                head(self.kernel_fc, lambda logits: F.softmax(logits, dim=1)))


class ODConv2d(PositiveTemperatureMixin, DynamicConv2dBase):
    """ODConv, an ``nn.Conv2d`` drop-in with attentions along all four dimensions of the kernel
    space.

    For x ``(B, in, H, W)`` the attention gives channel ``a_c`` ``(B, in)``, filter ``a_f``
    ``(B, out)``, spatial ``a_s`` ``(B, kh, kw)`` and kernel ``a_w`` ``(B, K)`` (softmax, sums to
    1) attentions, and ``W_b = a_s[b] * sum_k a_w[b, k] * weight[k]``,
    ``y_b = a_f[b] * conv(a_c[b] * x_b, W_b) + bias``: the channel and filter attentions act on the
    input and output (the same function as on the kernel, cheaper, as in the reference), one
    grouped conv over the batch. Output as ``nn.Conv2d``.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
        padding_mode, device, dtype: as ``nn.Conv2d`` (``padding_mode='zeros'`` only). The
            reference has no bias; with ``bias=True`` one ``(out,)`` bias is added after the
            filter attention.
        kernel_num: K (the paper's "ODConv (4x)": 4).
        reduction, min_channel: hidden width ``max(int(in * reduction), min_channel)``
            (reference: 1/16 and 16).
        temperature: divides every attention's logits (> 0; reference: 1, annealed from 30 on
            ImageNet with ``TemperatureScheduleHook``).

    Parameters: ``weight`` ``(K, out, in/groups, kh, kw)``, ``attention.{fc, bn, channel_fc,
    filter_fc, spatial_fc, kernel_fc}``, ``bias`` ``(out,)``.
    """

    layer_name = 'ODConv2d'

    def __init__(self, in_channels: int, out_channels: int, kernel_size: _IntPair,
                 stride: _IntPair = 1, padding: Union[str, _IntPair] = 0,
                 dilation: _IntPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = 'zeros', device=None, dtype=None, *,
                 kernel_num: int = 4, reduction: float = 0.0625, min_channel: int = 16,
                 temperature: float = 1.0):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)
        check_count(self.layer_name, 'kernel_num', kernel_num)
        check_fraction(self.layer_name, 'reduction', reduction)
        check_count(self.layer_name, 'min_channel', min_channel)
        self.kernel_num = kernel_num
        self.update_temperature(temperature)
        kw = self.factory_kwargs
        depthwise = in_channels == groups == out_channels
        kernel_area = self.kernel_size[0] * self.kernel_size[1]
        hidden = max(int(in_channels * reduction), min_channel)
        self.attention = _OmniAttention(in_channels, out_channels, kernel_area, depthwise,
                                        kernel_num, hidden, kw)
        self.weight = nn.Parameter(torch.empty(kernel_num, out_channels, in_channels // groups,
                                               *self.kernel_size, **kw))
        with torch.no_grad():
            for kernel in self.weight:
                nn.init.kaiming_normal_(kernel, mode='fan_out', nonlinearity='relu')
        self.bias = nn.Parameter(torch.zeros(out_channels, **kw)) if bias else None

    def attentions(self, x: torch.Tensor):
        """``(channel (B, in), filter (B, out), spatial (B, kh*kw), kernel (B, K))`` for x
        ``(B, in, H, W)``; an attention the layer does not have is None."""
        return self.attention(pooled(x), self.temperature)

    def _forward_batch(self, x: torch.Tensor) -> torch.Tensor:
        channel, filter_, spatial, kernel = self.attentions(x)
        x = x * channel[:, :, None, None]
        if kernel is None and spatial is None:  # one static kernel: a plain conv
            out = F.conv2d(x, self.weight[0], None, self.stride, self.padding, self.dilation,
                           self.groups)
        else:
            batch = x.shape[0]
            if kernel is None:
                weight = self.weight.expand(batch, *self.weight.shape[1:])
            else:
                weight = mixed_kernels(kernel, self.weight, None)[0]
            if spatial is not None:
                weight = weight * spatial.view(batch, 1, 1, *self.kernel_size)
            out = self.conv_per_sample(x, weight, None)
        if filter_ is not None:
            out = out * filter_[:, :, None, None]
        if self.bias is not None:
            out = out + self.bias[:, None, None]
        return out

    def extra_repr(self) -> str:
        return (super().extra_repr() + f', kernel_num={self.kernel_num}, '
                f'temperature={self.temperature:g}')
