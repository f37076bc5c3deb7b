"""Convolution and linear maps with one weight per sample, and their backward passes.

FDConv (Chen et al., CVPR 2025) gives every sample its own weight. The batch is convolved in one
grouped conv (``groups = B``); a 1x1 kernel without padding, and FDLinear's tokens, are a batched
matrix product. The backward functions let FDConv's recomputing autograd node
(:mod:`.fdconv_autograd`) form the input and weight gradients itself, from a weight it regenerates
instead of keeping.

Weights are kernel-position-major, ``(B, out, k, k, in)``: contiguous, that is the channels-last
layout of a conv weight.
"""
from typing import Tuple, Union

import torch
import torch.nn.functional as F

from .torch_support import is_compiling

__all__ = ['per_sample_conv2d', 'per_sample_conv2d_backward', 'per_sample_linear',
           'per_sample_linear_backward', 'conv_output_size', 'explicit_padding']

_Pair = Tuple[int, int]


def explicit_padding(padding: Union[str, _Pair], kernel_size: int, dilation: _Pair) -> _Pair:
    """``padding`` as two ints: ``'valid'`` is 0, ``'same'`` (odd effective kernel, stride 1) is
    ``dilation * (k - 1) // 2``."""
    if padding == 'valid':
        return 0, 0
    if padding == 'same':
        if any(d * (kernel_size - 1) % 2 for d in dilation):
            raise ValueError(f"padding='same' with kernel size {kernel_size} and dilation "
                             f'{dilation} pads unevenly; give the padding as numbers')
        return tuple(d * (kernel_size - 1) // 2 for d in dilation)
    return tuple(padding)


def conv_output_size(size: _Pair, kernel: Union[int, _Pair], stride: _Pair, padding: _Pair,
                     dilation: _Pair) -> _Pair:
    """The output height and width of a conv (``kernel``: one size for both axes, or a pair)."""
    kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
    return tuple((s + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
                 for i, s in enumerate(size))


def _is_matmul(weight: torch.Tensor, padding: _Pair) -> bool:
    return weight.shape[2] == 1 and weight.shape[3] == 1 and tuple(padding) == (0, 0)


def per_sample_conv2d(x: torch.Tensor, weight: torch.Tensor, stride: _Pair, padding: _Pair,
                      dilation: _Pair) -> torch.Tensor:
    """Convolve every sample with its own weight.

    x ``(B, in, H, W)``; weight ``(B, out, k, k, in)`` (used in its channels-last layout without a
    copy where the weight is larger than the input); result ``(B, out, H', W')`` (strided).
    """
    batch, in_channels, height, width = x.shape
    out_channels, k_h, k_w = weight.shape[1], weight.shape[2], weight.shape[3]
    if _is_matmul(weight, padding):
        x = x[:, :, ::stride[0], ::stride[1]]
        out_h, out_w = x.shape[-2:]
        out = torch.matmul(weight.reshape(batch, out_channels, in_channels),
                           x.reshape(batch, in_channels, out_h * out_w))
        return out.view(batch, out_channels, out_h, out_w)
    if is_compiling():
        return _unfolded_conv2d(x, weight, stride, padding, dilation)
    conv_weight = _conv_layout(weight, x)
    if batch == 1:
        return F.conv2d(x, conv_weight[0], None, stride, padding, dilation)
    out = F.conv2d(x.reshape(1, batch * in_channels, height, width),
                   conv_weight.reshape(batch * out_channels, in_channels, k_h, k_w), None, stride,
                   padding, dilation, groups=batch)
    return out.view(batch, out_channels, *out.shape[-2:])


def _conv_layout(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    conv_weight = weight.permute(0, 1, 4, 2, 3)  # (B, out, in, k, k), channels-last strides
    if weight.numel() <= x.numel():  # small weight: standard layout, keeps the input layout
        conv_weight = conv_weight.contiguous()
    return conv_weight


def _unfolded_conv2d(x: torch.Tensor, weight: torch.Tensor, stride: _Pair, padding: _Pair,
                     dilation: _Pair) -> torch.Tensor:
    """:func:`per_sample_conv2d` as unfold and a batched matrix product: what torch.compile
    gets, since a grouped conv with one group per sample has a symbolic group count once the
    batch size is dynamic, which inductor cannot lower."""
    batch, out_channels, k = weight.shape[0], weight.shape[1], weight.shape[2]
    out_h, out_w = conv_output_size(tuple(x.shape[-2:]), k, stride, padding, dilation)
    columns = F.unfold(x, k, dilation, padding, stride)  # (B, in * k * k, L)
    matrix = weight.permute(0, 1, 4, 2, 3).reshape(batch, out_channels, -1)
    return torch.bmm(matrix, columns).view(batch, out_channels, out_h, out_w)


def per_sample_conv2d_backward(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                               stride: _Pair, padding: _Pair, dilation: _Pair,
                               input_grad: bool = True):
    """Gradients of :func:`per_sample_conv2d` for the output gradient ``grad``
    ``(B, out, H', W')``: ``(grad_x or None, grad_weight)``, ``grad_weight`` in the weight's
    ``(B, out, k, k, in)`` layout."""
    batch, in_channels, height, width = x.shape
    out_channels, k_h, k_w = weight.shape[1], weight.shape[2], weight.shape[3]
    if _is_matmul(weight, padding):
        strided = x[:, :, ::stride[0], ::stride[1]]
        out_h, out_w = strided.shape[-2:]
        grad = grad.reshape(batch, out_channels, out_h * out_w)
        grad_weight = torch.bmm(grad, strided.reshape(batch, in_channels, -1).transpose(1, 2))
        grad_x = None
        if input_grad:
            grad_strided = torch.bmm(weight.reshape(batch, out_channels, in_channels).transpose(
                1, 2), grad).view(batch, in_channels, out_h, out_w)
            if stride == (1, 1):
                grad_x = grad_strided
            else:
                grad_x = x.new_zeros(x.shape)
                grad_x[:, :, ::stride[0], ::stride[1]] = grad_strided
        return grad_x, grad_weight.view(weight.shape)
    if is_compiling():
        with torch.enable_grad():  # the unfold formulation's own backward
            inputs = (x.detach().requires_grad_(input_grad), weight.detach().requires_grad_())
            out = _unfolded_conv2d(*inputs, stride, padding, dilation)
            wanted = inputs if input_grad else inputs[1:]
            grads = torch.autograd.grad(out, wanted, grad)
        return (grads[0] if input_grad else None), grads[-1]
    conv_weight = _conv_layout(weight, x).reshape(batch * out_channels, in_channels, k_h, k_w)
    grad_x, grad_weight, _ = torch.ops.aten.convolution_backward(
        grad.reshape(1, batch * out_channels, *grad.shape[-2:]),
        x.reshape(1, batch * in_channels, height, width), conv_weight, None, stride, padding,
        dilation, False, (0, 0), batch, (input_grad, True, False))
    grad_weight = grad_weight.view(batch, out_channels, in_channels, k_h, k_w).permute(0, 1, 3,
                                                                                       4, 2)
    return (None if grad_x is None else grad_x.view(x.shape)), grad_weight


def per_sample_linear(tokens: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``tokens`` ``(B, T, in)`` times each sample's ``weight`` ``(B, out, in)``: ``(B, T, out)``."""
    return torch.bmm(tokens, weight.transpose(1, 2))


def per_sample_linear_backward(grad: torch.Tensor, tokens: torch.Tensor, weight: torch.Tensor,
                               input_grad: bool = True):
    """Gradients of :func:`per_sample_linear`: ``(grad_tokens or None, grad_weight)``."""
    grad_weight = torch.bmm(grad.transpose(1, 2), tokens)
    return (torch.bmm(grad, weight) if input_grad else None), grad_weight
