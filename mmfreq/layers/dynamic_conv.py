"""DY-Conv: dynamic convolution (Chen, Dai, Liu, Chen, Yuan and Liu, "Dynamic Convolution:
Attention over Convolution Kernels", CVPR 2020), one of the dynamic convolutions FDConv
(CVPR 2025) compares with in its Table 1.

The authors published no code; the reference is the widely used PyTorch implementation
kaijieshi7/Dynamic-convolution-Pytorch (``Dynamic_conv2d``), whose parameter names this layer
keeps, so its state dicts load. Decisions where the paper and that code differ:
docs/dynamic-convs.md#dy-conv.
"""
from typing import Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .dynamic_conv_base import (DynamicConv2dBase, PositiveTemperatureMixin, check_count,
                                check_fraction, mixed_kernels, pooled)

__all__ = ['DynamicConv2d']

_IntPair = Union[int, Tuple[int, int]]


class _KernelAttention(nn.Module):
    """DY-Conv's squeeze-and-excitation over the K kernels: ``GAP -> fc1 (1x1 conv, no bias) ->
    ReLU -> fc2 (1x1 conv) -> softmax(/ temperature)``; ``(B, in)`` in, ``(B, K)`` out."""

    def __init__(self, in_channels: int, hidden: int, kernel_num: int, factory_kwargs: dict):
        super().__init__()
        self.fc1 = nn.Conv2d(in_channels, hidden, 1, bias=False, **factory_kwargs)
        self.fc2 = nn.Conv2d(hidden, kernel_num, 1, bias=True, **factory_kwargs)
        for conv in (self.fc1, self.fc2):
            nn.init.kaiming_normal_(conv.weight, mode='fan_out', nonlinearity='relu')
        nn.init.zeros_(self.fc2.bias)

    def forward(self, pooled_x: torch.Tensor, temperature: float) -> torch.Tensor:
        hidden = F.relu(F.linear(pooled_x, self.fc1.weight.flatten(1)))
        logits = F.linear(hidden, self.fc2.weight.flatten(1), self.fc2.bias)
        return torch.softmax(logits / temperature, dim=1)


class DynamicConv2d(PositiveTemperatureMixin, DynamicConv2dBase):
    """DY-Conv, an ``nn.Conv2d`` drop-in whose kernel is a per-sample softmax mixture of K kernels.

    For x ``(B, in, H, W)``: ``pi = softmax(fc2(relu(fc1(GAP(x)))) / temperature)`` ``(B, K)``
    (sums to 1 over K), kernel ``W_b = sum_k pi[b, k] * weight[k]`` and bias
    ``sum_k pi[b, k] * bias[k]``, ``y_b = conv(x_b, W_b) + bias_b``: one grouped conv over the
    batch. Output as ``nn.Conv2d``.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
        padding_mode, device, dtype: as ``nn.Conv2d`` (``padding_mode='zeros'`` only).
        kernel_num: K, the number of kernels (paper: 4).
        reduction: the attention's hidden width is ``int(in * reduction) + 1`` (``K`` for a
            3-channel input), as in the reference code; the paper squeezes by 4 (0.25).
        temperature: softmax temperature (> 0). The paper anneals it from 30 to 1 over the
            first 10 epochs (``TemperatureScheduleHook``); a fine-tuning config keeps 1.

    Parameters: ``weight`` ``(K, out, in/groups, kh, kw)``, ``bias`` ``(K, out)`` (with
    ``bias=True``), ``attention.fc1`` / ``attention.fc2`` (1x1 convs).
    """

    layer_name = 'DynamicConv2d'

    def __init__(self, in_channels: int, out_channels: int, kernel_size: _IntPair,
                 stride: _IntPair = 1, padding: Union[str, _IntPair] = 0,
                 dilation: _IntPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = 'zeros', device=None, dtype=None, *,
                 kernel_num: int = 4, reduction: float = 0.25, temperature: float = 1.0):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)
        check_count(self.layer_name, 'kernel_num', kernel_num)
        check_fraction(self.layer_name, 'reduction', reduction)
        self.kernel_num = kernel_num
        self.update_temperature(temperature)
        hidden = kernel_num if in_channels == 3 else int(in_channels * reduction) + 1
        kw = self.factory_kwargs
        self.attention = _KernelAttention(in_channels, hidden, kernel_num, kw)
        self.weight = nn.Parameter(torch.empty(kernel_num, out_channels, in_channels // groups,
                                               *self.kernel_size, **kw))
        self.bias = nn.Parameter(torch.zeros(kernel_num, out_channels, **kw)) if bias else None
        with torch.no_grad():
            for kernel in self.weight:  # the reference: kaiming_uniform_ per kernel, zero bias
                nn.init.kaiming_uniform_(kernel)

    def kernel_attention(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` softmax attention over the kernels for x ``(B, in, H, W)``."""
        return self.attention(pooled(x), self.temperature)

    def _forward_batch(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = mixed_kernels(self.kernel_attention(x), self.weight, self.bias)
        return self.conv_per_sample(x, weight, bias)

    def extra_repr(self) -> str:
        return (super().extra_repr() + f', kernel_num={self.kernel_num}, '
                f'temperature={self.temperature:g}')
