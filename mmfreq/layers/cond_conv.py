"""CondConv: conditionally parameterized convolution (Yang, Bender, Le and Ngiam, "CondConv:
Conditionally Parameterized Convolutions for Efficient Inference", NeurIPS 2019), one of the
dynamic convolutions FDConv (CVPR 2025) compares with in its Table 1.

The authors' code is TensorFlow (tensorflow/tpu, models/official/efficientnet/condconv); this is
a PyTorch rendering of its ``CondConv2D`` with the routing function of its EfficientNet blocks.
Decisions where the paper, the TF code and PyTorch differ: docs/dynamic-convs.md#condconv.
"""
from typing import Tuple, Union

import torch
from torch import nn

from .dynamic_conv_base import (DynamicConv2dBase, check_count, init_expert_kernels_,
                                mixed_kernels, pooled)

__all__ = ['CondConv2d']

_IntPair = Union[int, Tuple[int, int]]


class CondConv2d(DynamicConv2dBase):
    """CondConv, an ``nn.Conv2d`` drop-in whose kernel is a per-sample mixture of experts.

    For x ``(B, in, H, W)``: routing weights ``r = sigmoid(routing_fn(GAP(x)))`` ``(B, E)`` (each
    in (0, 1), not normalised: CondConv's routing is not a softmax), kernel
    ``W_b = sum_i r[b, i] * weight[i]`` and bias ``sum_i r[b, i] * bias[i]``, then
    ``y_b = conv(x_b, W_b) + bias_b``: one grouped conv over the batch. Output as ``nn.Conv2d``.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
        padding_mode, device, dtype: as ``nn.Conv2d`` (``padding_mode='zeros'`` only).
        num_experts: E, the number of expert kernels (the paper's ResNet-50 row: 8).

    Parameters: ``weight`` ``(E, out, in/groups, kh, kw)``, ``bias`` ``(E, out)`` (with
    ``bias=True``), ``routing_fn`` ``nn.Linear(in, E)``.
    """

    layer_name = 'CondConv2d'

    def __init__(self, in_channels: int, out_channels: int, kernel_size: _IntPair,
                 stride: _IntPair = 1, padding: Union[str, _IntPair] = 0,
                 dilation: _IntPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = 'zeros', device=None, dtype=None, *,
                 num_experts: int = 8):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)
        check_count(self.layer_name, 'num_experts', num_experts)
        self.num_experts = num_experts
        kw = self.factory_kwargs
        self.weight = nn.Parameter(torch.empty(num_experts, out_channels,
                                               in_channels // groups, *self.kernel_size, **kw))
        self.bias = nn.Parameter(torch.empty(num_experts, out_channels, **kw)) if bias else None
        self.routing_fn = nn.Linear(in_channels, num_experts, **kw)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Each expert as a fresh ``nn.Conv2d``; the routing layer as a fresh ``nn.Linear``."""
        init_expert_kernels_(self.weight, self.bias)
        self.routing_fn.reset_parameters()

    def routing_weights(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, E)`` routing weights in (0, 1) for x ``(B, in, H, W)``."""
        return torch.sigmoid(self.routing_fn(pooled(x)))

    def _forward_batch(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = mixed_kernels(self.routing_weights(x), self.weight, self.bias)
        return self.conv_per_sample(x, weight, bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f', num_experts={self.num_experts}'
