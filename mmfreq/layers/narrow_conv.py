"""A 'same'-padded, stride-1 convolution with few output channels, computed channels first.

FBM's band-map conv (FDConv, Chen et al., CVPR 2025, Sec. 3.3) maps C channels to a handful of
maps. Library convolutions are tuned for many output channels; with three, their backward costs
about a third of a full C -> C conv's. Mixing the channels first is one matrix product per group,

    Y[o, tap, p] = sum_c weight[o, c, tap] * x[c, p]          (O * s * s, h * w)
    out[o, p]    = bias[o] + sum_tap Y[o, tap, p + offset(tap)]   (zero outside the map)

and the backward is the two transposed products plus shifted additions: the cost of a
``O * s * s``-row matrix product, where ``O * s * s`` is much smaller than the input's channels.

Shapes: x ``(B, C, h, w)``, weight ``(O, C / groups, s, s)`` (odd s), bias ``(O,)``; output
``(B, O, h, w)``; as ``F.conv2d(x, weight, bias, padding=s // 2, groups=groups)``.
"""
import torch
import torch.nn.functional as F

from .torch_support import autocast_enabled, is_compiling

__all__ = ['same_conv2d', 'is_narrow']


def is_narrow(weight: torch.Tensor, groups: int) -> bool:
    """Whether the channels-first form pays: the mixed channels ``O * s * s`` per group are no
    more than the input channels of a group."""
    out_channels, group_channels, k_h, k_w = weight.shape
    return k_h == k_w and k_h % 2 == 1 and out_channels * k_h * k_w <= group_channels * groups


def same_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                groups: int) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=s // 2, groups=groups)``, channels first where
    :func:`is_narrow` on the CPU outside autocast (elsewhere, and under torch.compile /
    torch.export, the conv: GPU libraries and autocast's low-precision conv are left as they
    are)."""
    if (x.device.type != 'cpu' or autocast_enabled('cpu') or x.shape[0] == 0
            or is_compiling() or torch.jit.is_tracing()
            or not is_narrow(weight, groups)):
        # a plain int: torch 2.1 traces a shape entry as a value that conv2d rejects as padding
        return F.conv2d(x, weight, bias, padding=int(weight.shape[-1]) // 2, groups=groups)
    return _NarrowConv2d.apply(x, weight, bias, groups)


def _shift_add(taps: torch.Tensor, size: int) -> torch.Tensor:
    """``out[..., i, j] = sum_{a, b} taps[..., a, b, i + a - r, j + b - r]`` (zero outside), for
    taps ``(..., s, s, h, w)``, ``r = s // 2``."""
    h, w = taps.shape[-2:]
    radius = size // 2
    out = taps.new_zeros(*taps.shape[:-4], h, w)
    for a in range(size):
        dy = a - radius
        for b in range(size):
            dx = b - radius
            out[..., max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)] += taps[
                ..., a, b, max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
    return out


def _shift_spread(grad: torch.Tensor, size: int) -> torch.Tensor:
    """Adjoint of :func:`_shift_add`: ``(..., h, w)`` -> ``(..., s, s, h, w)``."""
    h, w = grad.shape[-2:]
    radius = size // 2
    taps = grad.new_zeros(*grad.shape[:-2], size, size, h, w)
    for a in range(size):
        dy = a - radius
        for b in range(size):
            dx = b - radius
            taps[..., a, b, max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)] = grad[
                ..., max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    return taps


class _NarrowConv2d(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x, weight, bias, groups):
        batch, channels, h, w = x.shape
        out_channels, group_channels, size, _ = weight.shape
        per_group = out_channels // groups
        # (G, O/G * s * s, C/G) @ (B, G, C/G, h*w): every tap of every output, per pixel
        mixing = weight.reshape(groups, per_group, group_channels, size * size).transpose(2, 3)
        mixing = mixing.reshape(groups, per_group * size * size, group_channels)
        taps = torch.matmul(mixing, x.reshape(batch, groups, group_channels, h * w))
        taps = taps.view(batch, out_channels, size, size, h, w)
        out = _shift_add(taps, size)
        if bias is not None:
            out += bias.view(1, -1, 1, 1).to(out.dtype)
        ctx.groups = groups
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        groups = ctx.groups
        batch, channels, h, w = x.shape
        out_channels, group_channels, size, _ = weight.shape
        per_group = out_channels // groups
        grad_taps = _shift_spread(grad, size).view(batch, groups, per_group * size * size, h * w)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            mixing = weight.reshape(groups, per_group, group_channels, size * size)
            mixing = mixing.permute(0, 2, 1, 3).reshape(groups, group_channels, -1)
            grad_x = torch.matmul(mixing, grad_taps).view(batch, channels, h, w)
        if ctx.needs_input_grad[1]:
            flat = x.reshape(batch, groups, group_channels, h * w)
            grad_mixing = torch.matmul(grad_taps, flat.transpose(2, 3)).sum(0)
            grad_weight = grad_mixing.view(groups, per_group, size * size, group_channels)
            grad_weight = grad_weight.transpose(2, 3).reshape(weight.shape)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum(dim=(0, 2, 3))
        return grad_x, grad_weight, grad_bias, None
