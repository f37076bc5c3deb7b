"""Kernel Spatial Modulation (KSM) of FDConv (Chen et al., CVPR 2025, Sec. 3.2).

Both branches read the global average pool of the layer input, ``pooled``: ``(B, in, 1, 1)``.

* :class:`KernelSpatialModulationGlobal` (``KSM_Global``): ``fc`` (1x1 conv in -> att, no bias,
  ``att = max(int(in * reduction), min_channel)``), ``bn``, ``relu`` (StarReLU), then 1x1 conv heads
  with bias: ``channel_fc`` (-> in), ``filter_fc`` (-> out), ``spatial_fc`` (-> k*k; absent for
  k = 1), ``kernel_fc`` (-> n = kernel_num * param_ratio; absent for n = 1).
  With ``only_kernel_att`` only ``kernel_fc`` is built. An absent head means a factor of 1 (returned
  as ``None``).
* :class:`KernelSpatialModulationLocal` (``KSM_Local``): ``norm`` (LayerNorm(in)) on the pooled
  channel vector, ``conv`` (Conv1d(1, out*k*k), kernel ``round(log2(in)/2 + 0.5)//2*2 + 1``, same
  padding, no bias) along the channel axis -> ``(B, out*k*k, in)``, read as a dense
  ``(B, out, in, k, k)`` modulation map (output channel ``o*k*k + kh*k + kw`` of the 1-D conv at
  input channel ``i`` modulates weight element ``(o, i, kh, kw)``).
"""
import math
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .star_relu import StarReLU

__all__ = [
    'KernelSpatialModulationGlobal', 'KernelSpatialModulationLocal', 'KSMGlobalFactors',
    'head_activation', 'kernel_activation', 'local_activation', 'local_conv_kernel_size',
    'local_logits',
    'KSM_GLOBAL_ACTS', 'KSM_LOCAL_ACTS',
]

KSM_GLOBAL_ACTS = ('sigmoid', 'tanh', 'softmax')
KSM_LOCAL_ACTS = ('sigmoid', 'tanh')
HEAD_INIT_STD = 1e-6
LOCAL_CONV_INIT = 1e-6


def head_activation(logits: torch.Tensor, act: str, temp: float, att_multi: float) -> torch.Tensor:
    """Channel / filter / spatial factor: ``sigmoid(z/temp) * att_multi``, or ``1 + tanh(z/temp)``
    (these heads have no softmax form)."""
    if act == 'tanh':
        return 1.0 + torch.tanh(logits / temp)
    return torch.sigmoid(logits / temp) * att_multi


def kernel_activation(logits: torch.Tensor, act: str, kernel_temp: float) -> torch.Tensor:
    """Kernel attention over the last dim (n kernels): ``sigmoid(z/T) * 2/n``, softmax or
    ``(1 + tanh(z/T)) / n``. Each form is 1/n at ``z = 0``."""
    n = logits.shape[-1]
    if act == 'softmax':
        return torch.softmax(logits / kernel_temp, dim=-1)
    if act == 'tanh':
        return (1.0 + torch.tanh(logits / kernel_temp)) / n
    return torch.sigmoid(logits / kernel_temp) * (2.0 / n)


def local_activation(logits: torch.Tensor, act: str, att_multi: float) -> torch.Tensor:
    """Local dense map: ``sigmoid(z) * att_multi`` or ``1 + tanh(z)``."""
    if act == 'tanh':
        return 1.0 + torch.tanh(logits)
    return torch.sigmoid(logits) * att_multi


def local_logits(weight: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
    """``KSM_Local``'s Conv1d as a matrix product: ``(R, taps)`` weight and ``(B, in, taps)``
    sliding windows -> contiguous ``(B, R, in)`` (bmm with the weight expanded: ``matmul`` would
    fold the batch into a transposed result)."""
    return torch.bmm(weight.expand(windows.shape[0], -1, -1), windows.transpose(1, 2))


def local_conv_kernel_size(in_channels: int) -> int:
    """Odd 1-D kernel size of ``KSM_Local.conv``: ``round(log2(in)/2 + 0.5) // 2 * 2 + 1``."""
    return int(round(math.log2(in_channels) / 2 + 0.5)) // 2 * 2 + 1


class KSMGlobalFactors(NamedTuple):
    """Per-sample factors of the global branch; ``None`` means a factor of exactly 1."""
    channel: Optional[torch.Tensor]  # (B, in)
    filter: Optional[torch.Tensor]  # (B, out)
    spatial: Optional[torch.Tensor]  # (B, k, k)
    kernel: Optional[torch.Tensor]  # (B, n), n = kernel_num * param_ratio


class KernelSpatialModulationGlobal(nn.Module):
    """Global channel branch of KSM (``KSM_Global``); see the module docstring.

    Args:
        in_channels, out_channels, kernel_size: of the modulated conv (square kernel).
        kernel_num: number of kernel attention values n (``kernel_num * param_ratio`` of FDConv).
        reduction, min_channel: hidden width ``max(int(in * reduction), min_channel)``.
        temp, kernel_temp: temperatures of the heads and of the kernel attention.
        att_multi: scale of the sigmoid heads.
        only_kernel_att: build only ``kernel_fc``.
        act: one of ``KSM_GLOBAL_ACTS``; ``'softmax'`` only with ``only_kernel_att`` (the other
            heads have no softmax form).

    Input ``pooled``: ``(B, in, 1, 1)``; output :class:`KSMGlobalFactors`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, kernel_num: int,
                 reduction: float = 0.0625, min_channel: int = 16, temp: float = 1.0,
                 kernel_temp: float = 1.0, att_multi: float = 2.0, only_kernel_att: bool = False,
                 act: str = 'sigmoid'):
        super().__init__()
        if act not in KSM_GLOBAL_ACTS:
            raise ValueError(f'ksm_global_act must be one of {KSM_GLOBAL_ACTS}, got {act!r}')
        if act == 'softmax' and not only_kernel_att:
            raise ValueError("ksm_global_act='softmax' requires ksm_only_kernel_att=True: the "
                             "channel, filter and spatial heads have no softmax form")
        self.kernel_size = kernel_size
        self.kernel_num = kernel_num
        self.temp = float(temp)
        self.kernel_temp = float(kernel_temp)
        self.att_multi = float(att_multi)
        self.act = act
        attention_channels = max(int(in_channels * reduction), min_channel)
        self.attention_channels = attention_channels
        self.fc = nn.Conv2d(in_channels, attention_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(attention_channels)
        self.relu = StarReLU()

        def head(channels: int, present: bool) -> Optional[nn.Conv2d]:
            return nn.Conv2d(attention_channels, channels, 1, bias=True) if present else None

        self.channel_fc = head(in_channels, not only_kernel_att)
        self.filter_fc = head(out_channels, not only_kernel_att)
        self.spatial_fc = head(kernel_size * kernel_size, not only_kernel_att and kernel_size > 1)
        self.kernel_fc = head(kernel_num, kernel_num > 1)
        self.init_weights()

    def init_weights(self) -> None:
        """Kaiming-normal (fan_out, relu) convs with zero bias; then ``channel_fc``, ``spatial_fc``
        and ``kernel_fc`` weights ~ N(0, 1e-6) (``filter_fc`` keeps its Kaiming init)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        self.bn.reset_parameters()
        self.relu.scale.data.fill_(1.0)
        self.relu.bias.data.fill_(0.0)
        for module in (self.channel_fc, self.spatial_fc, self.kernel_fc):
            if module is not None:
                nn.init.normal_(module.weight, std=HEAD_INIT_STD)

    def _batch_norm(self, hidden: torch.Tensor) -> torch.Tensor:
        # A single pooled vector per channel (batch 1) has no batch statistics; training BatchNorm
        # would raise, so such a batch is normalised with the running statistics (not updated).
        if self.training and hidden.shape[0] == 1 and type(self.bn) is nn.BatchNorm2d:
            bn = self.bn
            return F.batch_norm(hidden, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                                False, 0.0, bn.eps)
        return self.bn(hidden)

    def forward(self, pooled: torch.Tensor) -> KSMGlobalFactors:
        hidden = self.relu(self._batch_norm(self.fc(pooled)))
        batch = pooled.shape[0]
        k = self.kernel_size

        def head(module: Optional[nn.Conv2d]) -> Optional[torch.Tensor]:
            if module is None:
                return None
            return head_activation(module(hidden).view(batch, -1), self.act, self.temp,
                                   self.att_multi)

        spatial = head(self.spatial_fc)
        kernel = None
        if self.kernel_fc is not None:
            kernel = kernel_activation(self.kernel_fc(hidden).view(batch, -1), self.act,
                                       self.kernel_temp)
        return KSMGlobalFactors(
            channel=head(self.channel_fc),
            filter=head(self.filter_fc),
            spatial=None if spatial is None else spatial.view(batch, k, k),
            kernel=kernel)


class KernelSpatialModulationLocal(nn.Module):
    """Local channel branch of KSM (``KSM_Local``); see the module docstring.

    Input ``pooled``: ``(B, in)``; output: dense map ``(B, out, in, k, k)`` (a strided view).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 act: str = 'sigmoid', att_multi: float = 2.0):
        super().__init__()
        if act not in KSM_LOCAL_ACTS:
            raise ValueError(f'ksm_local_act must be one of {KSM_LOCAL_ACTS}, got {act!r}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.act = act
        self.att_multi = float(att_multi)
        conv_kernel = local_conv_kernel_size(in_channels)
        self.norm = nn.LayerNorm(in_channels)
        self.conv = nn.Conv1d(1, out_channels * kernel_size * kernel_size, conv_kernel,
                              padding=(conv_kernel - 1) // 2, bias=False)
        self.init_weights()

    def init_weights(self) -> None:
        """LayerNorm to identity, ``conv`` weights constant 1e-6."""
        self.norm.reset_parameters()
        nn.init.constant_(self.conv.weight, LOCAL_CONV_INIT)

    def factors(self, pooled: torch.Tensor):
        """The Conv1d as a matrix product's two factors: its weight ``(out*k*k, taps)`` and the
        sliding windows ``(B, in, taps)`` of the zero-padded normalised channel vector
        ``(B, in)``, so that ``logits = weight @ windows^T`` (:func:`local_logits`). The matrix
        product is the same cross-correlation, cheaper than a convolution with out*k*k output
        channels; FDConv's fused weight node consumes the factors directly."""
        taps, pad = self.conv.kernel_size[0], self.conv.padding[0]
        windows = F.pad(self.norm(pooled), (pad, pad)).unfold(-1, taps, 1)
        return self.conv.weight.view(-1, taps).to(windows.dtype), windows

    def logits(self, pooled: torch.Tensor) -> torch.Tensor:
        """``conv(norm(pooled))``: ``(B, in)`` -> ``(B, out*k*k, in)``."""
        return local_logits(*self.factors(pooled))

    @property
    def constant(self) -> float:
        """The map's constant factor: ``att_multi`` for sigmoid, 1 for tanh (``1 + tanh``)."""
        return 1.0 if self.act == 'tanh' else self.att_multi

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        maps = local_activation(self.logits(pooled), self.act, self.att_multi)
        batch, k = pooled.shape[0], self.kernel_size
        return maps.view(batch, self.out_channels, k, k, self.in_channels).permute(0, 1, 4, 2, 3)
