"""What the kernel-mixing dynamic convolutions of FDConv's comparison (CondConv, DY-Conv, DCD,
ODConv, KernelWarehouse; docs/dynamic-convs.md) share: the ``nn.Conv2d`` geometry and argument
checks, the drop-in input handling (unbatched input, empty batch, wrong channel count) and the
convolution of every sample with its own kernel in one grouped conv over the batch (on the CPU,
for many channels on a small map, one batched matrix product over the unfolded input instead:
:func:`unfold_is_faster`).
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from .layer_inputs import check_channels, empty_batch_output
from .per_sample_conv import conv_output_size
from .torch_support import is_compiling

__all__ = ['DynamicConv2dBase', 'PositiveTemperatureMixin', 'per_sample_conv', 'unfold_is_faster',
           'check_option', 'check_count',
           'check_fraction', 'mixed_kernels', 'pooled', 'init_expert_kernels_',
           'pooled_batch_norm']

_IntPair = Union[int, Tuple[int, int]]


def check_option(layer: str, name: str, value, ok: bool, allowed: str) -> None:
    """Refuse an option value at build time, naming the option and what it accepts."""
    if not ok:
        raise ValueError(f'{layer}: {name}={value!r} is not allowed; {name} must be {allowed}')


def check_count(layer: str, name: str, value) -> None:
    """Refuse a count option that is not an int >= 1."""
    check_option(layer, name, value, isinstance(value, int) and value >= 1, 'an int >= 1')


def check_fraction(layer: str, name: str, value) -> None:
    """Refuse a ratio option outside (0, 1]."""
    check_option(layer, name, value, isinstance(value, (int, float)) and 0 < value <= 1,
                 'a number in (0, 1]')


def mixed_kernels(attention: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]):
    """Each sample's mixture of K kernels: attention ``(B, K)``, weight ``(K, out, in/groups,
    kh, kw)``, bias ``(K, out)`` or None -> ``(B, out, in/groups, kh, kw)`` and ``(B, out)`` or
    None (one matrix product each)."""
    mixed = (attention @ weight.flatten(1)).view(attention.shape[0], *weight.shape[1:])
    return mixed, None if bias is None else attention @ bias


#: the CPU rule of :func:`unfold_is_faster`, measured forward + backward of the per-sample conv
#: alone (1 and 2 threads, torch 2.13, oneDNN): the batched matrix product over the unfolded input
#: took 0.52x the grouped conv's time at c512@7 batch 8, 0.66x at c512@7 batch 2, 0.80x at c512@12
#: batch 8, 0.54x at c1024@7, 0.29x at c2048@4; 0.98-1.39x at c512@16, 1.14x at c256@7 and more on
#: larger maps
UNFOLD_MIN_CHANNELS = 512
UNFOLD_MAX_POSITIONS = 12 * 12


def unfold_is_faster(x: torch.Tensor, in_channels: int, out_size: Tuple[int, int]) -> bool:
    """Whether the per-sample conv of ``x`` (``in_channels`` input channels per group) with an
    output map of ``out_size`` is faster as unfold + batched matrix product than as one grouped
    conv: on the CPU, for a batch of several samples (one sample is a plain conv), at least 512
    channels and at most 12x12 output positions (the measurements above). Not while tracing
    (the FLOP counter and ONNX export see a conv)."""
    return (x.device.type == 'cpu' and x.shape[0] > 1 and in_channels >= UNFOLD_MIN_CHANNELS
            and out_size[0] * out_size[1] <= UNFOLD_MAX_POSITIONS
            and not torch.jit.is_tracing())


def per_sample_conv(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                    stride, padding, dilation, groups: int) -> torch.Tensor:
    """Convolve sample b of x ``(B, in, H, W)`` with ``weight[b]`` (weight ``(B, out, in/groups,
    kh, kw)``) and add ``bias`` (``(out,)`` shared or ``(B, out)`` per sample; or None): one conv
    with ``B * groups`` groups, no loop over samples. Returns ``(B, out, H', W')``."""
    batch, out_channels = weight.shape[:2]
    if bias is not None and bias.dim() == 1:
        bias = bias.expand(batch, out_channels)
    if groups == 1 and not isinstance(padding, str) and not is_compiling():
        kernel, stride, padding, dilation = (_pair(v) for v in (
            tuple(weight.shape[3:]), stride, padding, dilation))
        out_size = conv_output_size(tuple(x.shape[2:]), kernel, stride, padding, dilation)
        if unfold_is_faster(x, x.shape[1], out_size):
            columns = F.unfold(x, kernel, dilation, padding, stride)  # (B, in * kh * kw, L)
            out = torch.bmm(weight.reshape(batch, out_channels, -1), columns)
            if bias is not None:
                out = out + bias.unsqueeze(2)
            return out.view(batch, out_channels, *out_size)
    if batch == 1:
        return F.conv2d(x, weight[0], None if bias is None else bias[0], stride, padding,
                        dilation, groups)
    out = F.conv2d(x.reshape(1, -1, *x.shape[2:]), weight.reshape(-1, *weight.shape[2:]),
                   None if bias is None else bias.reshape(-1), stride, padding, dilation,
                   groups * batch)
    return out.view(batch, out_channels, *out.shape[2:])


class PositiveTemperatureMixin:
    """``update_temperature`` for a layer that divides attention logits by ``temperature``."""

    def update_temperature(self, temperature: float) -> None:
        """Set the attention temperature (> 0; what ``TemperatureScheduleHook`` calls)."""
        check_option(self.layer_name, 'temperature', temperature,
                     isinstance(temperature, (int, float)) and temperature > 0, 'a number > 0')
        self.temperature = float(temperature)


class DynamicConv2dBase(nn.Module):
    """``nn.Conv2d``'s arguments, checks and input handling for a conv whose kernel depends on
    the input sample. Subclasses implement ``_forward_batch(x)`` for a non-empty 4-D input
    ``(B, in, H, W)`` and return ``(B, out, H', W')``, H' and W' as ``nn.Conv2d`` gives them.

    Accepts what ``nn.Conv2d`` accepts (ints or pairs; ``padding`` also ``'same'`` / ``'valid'``)
    except ``padding_mode`` other than ``'zeros'`` (the per-sample conv pads with zeros).
    """

    layer_name = 'DynamicConv2dBase'

    def __init__(self, in_channels: int, out_channels: int, kernel_size: _IntPair,
                 stride: _IntPair = 1, padding: Union[str, _IntPair] = 0,
                 dilation: _IntPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = 'zeros', device=None, dtype=None):
        super().__init__()
        name = self.layer_name
        for option, value in (('in_channels', in_channels), ('out_channels', out_channels),
                              ('groups', groups)):
            check_option(name, option, value, isinstance(value, int) and value > 0,
                         'a positive int')
        check_option(name, 'groups', groups,
                     in_channels % groups == 0 and out_channels % groups == 0,
                     f'a divisor of in_channels={in_channels} and out_channels={out_channels}')
        check_option(name, 'padding_mode', padding_mode, padding_mode == 'zeros',
                     "'zeros' (the per-sample conv pads with zeros)")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.dilation = _pair(dilation)
        if isinstance(padding, str):
            check_option(name, 'padding', padding, padding in ('same', 'valid'),
                         "'same', 'valid', an int or a pair")
            check_option(name, 'padding', padding, padding != 'same' or self.stride == (1, 1),
                         "'valid', an int or a pair when stride > 1 (as nn.Conv2d)")
            self.padding = padding
        else:
            self.padding = _pair(padding)
        self.padding_mode = padding_mode
        self.factory_kwargs = dict(device=device, dtype=dtype)
        self.use_bias = bias

    def output_shape(self, x: torch.Tensor) -> Tuple[int, ...]:
        """``(B, out, H', W')`` of ``nn.Conv2d`` with this geometry, for x ``(B, in, H, W)``."""
        probe = torch.empty(1, self.in_channels, *x.shape[2:], device='meta')
        kernel = torch.empty(self.out_channels, self.in_channels // self.groups,
                             *self.kernel_size, device='meta')
        out = F.conv2d(probe, kernel, None, self.stride, self.padding, self.dilation,
                       self.groups)
        return (x.shape[0], self.out_channels, *out.shape[2:])

    def conv_per_sample(self, x: torch.Tensor, weight: torch.Tensor,
                        bias: Optional[torch.Tensor]) -> torch.Tensor:
        """:func:`per_sample_conv` with this layer's geometry."""
        return per_sample_conv(x, weight, bias, self.stride, self.padding, self.dilation,
                               self.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() not in (3, 4):
            raise ValueError(f'{self.layer_name} expected a 3-D (unbatched) or 4-D (batched) '
                             f'input, got input{list(x.shape)}')
        if x.dim() == 3:  # unbatched, as nn.Conv2d accepts it
            return self.forward(x.unsqueeze(0)).squeeze(0)
        check_channels(self.layer_name, x, self.in_channels, dim=1)
        if x.shape[0] == 0:
            return empty_batch_output(self, x, self.output_shape(x))
        return self._forward_batch(x)

    def _forward_batch(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        text = (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'stride={self.stride}')
        if self.padding != (0, 0):
            text += f', padding={self.padding}'
        if self.dilation != (1, 1):
            text += f', dilation={self.dilation}'
        if self.groups != 1:
            text += f', groups={self.groups}'
        if not self.use_bias:
            text += ', bias=False'
        return text


def pooled(x: torch.Tensor) -> torch.Tensor:
    """Global average pool ``(B, C, H, W) -> (B, C)``: what every attention branch here reads."""
    return x.mean(dim=(2, 3))


def init_expert_kernels_(weight: torch.Tensor, bias: Optional[torch.Tensor] = None) -> None:
    """Initialise every kernel ``weight[i]`` (``(K, out, in/groups, kh, kw)``) and bias row
    ``bias[i]`` (``(K, out)``) as ``nn.Conv2d.reset_parameters`` initialises one conv."""
    fan_in = weight[0][0].numel()
    with torch.no_grad():
        for kernel in weight:
            nn.init.kaiming_uniform_(kernel, a=5 ** 0.5)
        if bias is not None:
            bound = 1 / fan_in ** 0.5 if fan_in > 0 else 0
            nn.init.uniform_(bias, -bound, bound)


def pooled_batch_norm(norm: nn.modules.batchnorm._BatchNorm, hidden: torch.Tensor) -> torch.Tensor:
    """``norm(hidden)`` for the BatchNorm of an attention branch on pooled vectors
    ``(B, C[, 1, 1])``. A training batch of one sample has no batch statistics (the references'
    BatchNorm raises on it): it is normalised with the running statistics, which it leaves as
    they are."""
    if norm.training and hidden.shape[0] == 1:
        return torch.nn.functional.batch_norm(hidden, norm.running_mean, norm.running_var,
                                              norm.weight, norm.bias, False, 0.0, norm.eps)
    return norm(hidden)
