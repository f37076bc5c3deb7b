"""Custom autograd nodes of FDConv's per-sample weight (Chen et al., CVPR 2025, Sec. 3.1-3.2).

Why they exist: speed and memory. Autograd's chain for ``spectrum = dft_weight * scale[group]``
would keep a per-sample copy of the spectrum and scatter its gradient coefficient by coefficient;
the chain for ``weight = act(local) * small * FDW`` would keep every intermediate product, each as
large as the per-sample weight (``B x out x in x k x k``). These nodes save only what their
backward needs and write gradients in the layout their consumers read. Their effect is measured by
``python benchmarks/bench_fdconv.py`` (time and saved memory next to ``nn.Conv2d``); their
gradients are checked against autograd by ``gradcheck`` in ``tests/layers/test_fdconv.py``.
"""
import functools
from dataclasses import dataclass
from typing import Optional, Tuple

import torch

from .fourier_disjoint import fft_dtype
from .kernel_spatial_modulation import local_logits
from .layer_inputs import autocast_off, autocast_state
from .per_sample_conv import (per_sample_conv2d, per_sample_conv2d_backward, per_sample_linear,
                              per_sample_linear_backward)
from .torch_support import is_compiling

__all__ = ['GroupScaledSpectrum', 'LocallyModulatedWeight', 'RecomputedDynamicLayer',
           'DynamicLayerSpec', 'fdw_spectrum', 'modulated_weight', 'dynamic_layer_forward']


def _without_autocast(backward):
    """A backward that computes in float32 by design, also when called under autocast."""

    @functools.wraps(backward)
    def wrapped(ctx, grad):
        with autocast_off(grad.device):
            return backward(ctx, grad)
    return wrapped


class GroupScaledSpectrum(torch.autograd.Function):
    """``spectrum[b, n] = sum_p S[p, n] * scale[b, p, group_index[n]]``, complex ``(B, d1, c)``,
    with ``S`` the complex view of ``dft_weight`` ``(P, d1, c, 2)``.

    Forward: one gather of the real ``scale`` to every coefficient, then complex-by-real
    multiplies (traced for export: real multiplies of the (real, imag) pairs instead, as ONNX has
    no complex gather or product). Backward: ``grad S = sum_b scale[b, group] * grad_b`` and, per
    group, the sum of ``Re(grad * conj(S))`` (one scatter-add); nothing per sample is saved.
    """

    @staticmethod
    def forward(ctx, dft_weight, scale, group_index):
        num_ratio, d1, cols, _ = dft_weight.shape
        per_entry = _per_entry(scale, group_index)  # (B, P, N)
        if is_compiling() or torch.jit.is_tracing():
            pairs = dft_weight.reshape(num_ratio, -1, 2)
            scaled = torch.view_as_complex((per_entry.unsqueeze(-1) * pairs).sum(1))
        else:  # a complex-by-real multiply: no broadcast over the (real, imag) pairs
            spectrum = torch.view_as_complex(dft_weight).reshape(num_ratio, -1)
            scaled = spectrum[0] * per_entry[:, 0]
            for ratio in range(1, num_ratio):
                scaled += spectrum[ratio] * per_entry[:, ratio]
        ctx.save_for_backward(dft_weight, scale, group_index)
        return scaled.view(-1, d1, cols)

    @staticmethod
    @torch.autograd.function.once_differentiable
    @_without_autocast
    def backward(ctx, grad):
        dft_weight, scale, group_index = ctx.saved_tensors
        batch, num_ratio, num_groups = scale.shape
        grad = grad.reshape(batch, -1)  # complex (B, N)
        grad_dft = grad_scale = None
        if ctx.needs_input_grad[0]:
            grad_dft = _weighted_batch_sum(grad.unsqueeze(1), _per_entry(scale, group_index))
            grad_dft = torch.view_as_real(grad_dft).view_as(dft_weight)
        if ctx.needs_input_grad[1]:  # Re(grad * conj(S)): a complex multiply is the fast form
            spectrum = torch.view_as_complex(dft_weight).reshape(num_ratio, 1, -1)
            inner = (grad.unsqueeze(0) * spectrum.conj()).real  # (P, B, N)
            grad_scale = scale.new_zeros(num_ratio, batch, num_groups).scatter_add_(
                2, group_index.expand_as(inner), inner).transpose(0, 1)
        return grad_dft, grad_scale, None


def _weighted_batch_sum(grad: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum_b grad[b] * weights[b]`` for complex ``grad`` ``(B, 1, N)`` and real ``weights``
    ``(B, P, N)``: ``(P, N)`` (a one-sample chunk, the CPU's case at large weights, without the
    sum's extra pass)."""
    if grad.shape[0] == 1:
        return grad[0] * weights[0]
    return (grad * weights).sum(0)


def _per_entry(scale: torch.Tensor, group_index: torch.Tensor) -> torch.Tensor:
    """``scale[b, p, group_index[n]]`` for every coefficient: ``(B, P, N)``."""
    return torch.gather(scale, 2, group_index.expand(*scale.shape[:2], -1))


def fdw_spectrum(dft_weight: torch.Tensor, scale: Optional[torch.Tensor],
                 group_index: torch.Tensor) -> torch.Tensor:
    """Per-sample FDW spectrum, complex ``(B, d1, c)`` (``(1, d1, c)`` without kernel attention).

    Args:
        dft_weight: ``(P, d1, c, 2)`` real/imag parameters (``P = param_ratio``).
        scale: ``(B, P, K)`` kernel attention times the FDW scale, or ``None`` (the scale 1).
        group_index: ``(d1 * c,)`` int64 group of every coefficient (row-major).

    Sample b's spectrum is ``sum_p dft_weight[p] * scale[b, p, group_index]``.
    """
    dft_weight = dft_weight.to(fft_dtype(dft_weight.dtype))
    if scale is None:
        return torch.view_as_complex(dft_weight.sum(0, keepdim=True))
    return GroupScaledSpectrum.apply(dft_weight, scale.to(dft_weight.dtype), group_index)


class LocallyModulatedWeight(torch.autograd.Function):
    """``weight = map(local_weight @ windows^T) * small * base`` in the kernel-position-major
    layout ``(B, out, k, k, in)``, where ``map`` is the ``KSM_Local`` map without its constant
    (``sigmoid``, or ``1 + tanh``), ``small`` ``(B, 1, k, k, in)`` the spatial and channel factors
    and ``base`` the per-sample FDW weight (any strides; the transposed view of the ``d1 x d2``
    matrices).

    One node instead of autograd's chain: the forward keeps only the map (written over its logits)
    and ``base``; the backward writes the gradient of ``base`` straight into ``base``'s own memory
    layout (so the inverse FFT's adjoint reads it contiguously) and forms the other gradients
    without weight-sized temporaries beyond one. With ``a`` the stored map, its derivative is
    ``a * (1 - a)`` (sigmoid) or ``a * (2 - a)`` (``1 + tanh``).
    """

    @staticmethod
    def forward(ctx, local_weight, windows, small, base, act):
        shape = (windows.shape[0], *base.shape[1:])
        logits = local_logits(local_weight, windows).view(shape)
        activated = logits.tanh_().add_(1.0) if act == 'tanh' else logits.sigmoid_()
        weight = (activated * small).mul_(base)
        ctx.act = act
        ctx.save_for_backward(local_weight, windows, small, base, activated)
        return weight

    @staticmethod
    @torch.autograd.function.once_differentiable
    @_without_autocast
    def backward(ctx, grad):
        local_weight, windows, small, base, activated = ctx.saved_tensors
        needs_local, needs_windows, needs_small, needs_base = ctx.needs_input_grad[:4]
        grad_local_weight = grad_windows = grad_small = grad_base = None
        if needs_base and base.shape[0] == grad.shape[0]:
            # d base = grad * map * small, written in base's strides (the transposing pass the
            # inverse FFT's adjoint needs anyway)
            grad_base = torch.empty_strided(base.shape, base.stride(), dtype=grad.dtype,
                                            device=grad.device)
            torch.mul(grad, activated, out=grad_base).mul_(small)
        elif needs_base:  # one base for the whole batch (no kernel attention): summed over it
            grad_base = (grad * activated).mul_(small).sum(0, keepdim=True)
        if needs_local or needs_windows or needs_small:
            # d (map * small), then d map, then d logits in place; kernel-position-major
            grad_map = torch.empty(grad.shape, dtype=grad.dtype, device=grad.device)
            torch.mul(grad, base, out=grad_map)
            if needs_small:
                grad_small = torch.linalg.vecdot(grad_map, activated, dim=1).unsqueeze(1)
                grad_small = grad_small.sum_to_size(small.shape)
            if needs_local or needs_windows:
                grad_map.mul_(small)
                if ctx.act == 'tanh':  # d(1 + tanh) = a * (2 - a)
                    grad_map.mul_(activated).mul_(2.0 - activated)
                else:
                    torch.ops.aten.sigmoid_backward.grad_input(grad_map, activated,
                                                               grad_input=grad_map)
                grad_logits = grad_map.view(grad.shape[0], -1, windows.shape[1])
                if needs_local:
                    # (B, taps, in) @ (B, in, out*k*k): the long dimension last runs fastest
                    grad_local_weight = torch.bmm(windows.transpose(1, 2).contiguous(),
                                                  grad_logits.transpose(1, 2)).sum(0).t()
                if needs_windows:
                    grad_windows = torch.bmm(local_weight.t().expand(grad.shape[0], -1, -1),
                                             grad_logits).transpose(1, 2)
        return grad_local_weight, grad_windows, grad_small, grad_base, None


@dataclass(frozen=True)
class DynamicLayerSpec:
    """What a recomputing node needs to know of its layer besides the tensors it is given.

    ``local_act``: the ``KSM_Local`` activation (None: no local map); ``linear``: FDLinear's
    tokens ``(B, T, in)`` instead of a conv's maps.
    """
    out_channels: int
    in_channels: int
    kernel_size: int
    group_index: torch.Tensor
    local_act: Optional[str]
    filter_to_output: bool
    linear: bool = False
    stride: Tuple[int, int] = (1, 1)
    padding: Tuple[int, int] = (0, 0)
    dilation: Tuple[int, int] = (1, 1)


def modulated_weight(spec: DynamicLayerSpec, dft_weight, scale, small, local_weight, windows,
                     alpha: float) -> torch.Tensor:
    """Per-sample weights ``(B, out, k, k, in)`` (float32): the FDW of ``dft_weight`` under the
    kernel attention ``scale`` ``(B, P, K)`` (None: 1, then times ``alpha``), modulated by the
    local map and the small ``(B, 1, k, k, in)`` spatial x channel factor."""
    out_channels, in_channels, k = spec.out_channels, spec.in_channels, spec.kernel_size
    d1, d2 = out_channels * k, in_channels * k
    spectrum = fdw_spectrum(dft_weight, scale, spec.group_index)
    if scale is None:
        spectrum = spectrum * alpha
    matrices = torch.fft.irfft2(spectrum, s=(d1, d2), norm='forward')
    base = matrices.view(-1, out_channels, k, in_channels, k).transpose(-1, -2)
    if local_weight is None:
        return (base * small).contiguous()
    return LocallyModulatedWeight.apply(local_weight, windows, small, base, spec.local_act)


def _layer_weight(spec, alpha, x, dft_weight, scale, small, local_weight, windows, filt,
                  fold_filter):
    """The per-sample weight in the dtype of the conv input ``x``."""
    with autocast_off(x.device):
        weight = modulated_weight(spec, dft_weight, scale, small, local_weight, windows, alpha)
        if filt is not None and fold_filter:
            weight = weight * filt.to(weight.dtype).view(*filt.shape, 1, 1, 1)
    return weight.to(x.dtype)


class RecomputedDynamicLayer(torch.autograd.Function):
    """The dynamic layer after FBM (per-sample weight, per-sample conv or linear map, filter
    factor, bias) as one node that keeps only its input and the small per-sample factors.

    Forward as the layer; backward regenerates the per-sample weight from what it kept (one more
    weight generation, no second conv), forms the conv's input and weight gradients itself and
    back-propagates the weight's through the regenerated graph: the same operations on the same
    values as autograd's backward of :func:`dynamic_layer_forward`, so the gradients are
    identical. Saved for backward: the conv input (FBM's output, where the layer has FBM),
    ``dft_weight`` (a parameter), tensors of size ``B x (in + out + k*k + n)`` and, where the
    filter factor is applied to the output, the conv output before it; instead of two or three
    ``B x out x in x k x k`` weights.
    """

    @staticmethod
    def forward(ctx, spec, alpha, x, dft_weight, scale, small, local_weight, windows, filt,
                bias):
        autocast = autocast_state(x.device)
        out, conv_out = _dynamic_layer_forward(spec, alpha, x, dft_weight, scale, small,
                                               local_weight, windows, filt, bias)
        ctx.spec, ctx.alpha, ctx.autocast = spec, alpha, autocast
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, dft_weight, scale, small, local_weight, windows, filt, conv_out)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        spec = ctx.spec
        *saved, conv_out = ctx.saved_tensors
        needs = ctx.needs_input_grad[2:9]
        layer_input = saved[0]
        # the weight's inputs (all but the conv input), regenerated with autograd recording
        inputs = [None if t is None else t.detach().requires_grad_(need)
                  for t, need in zip(saved[1:], needs[1:])]
        device_type, autocast_enabled, autocast_dtype = ctx.autocast
        with torch.enable_grad(), torch.autocast(device_type, autocast_dtype,
                                                 enabled=autocast_enabled):
            weight = _layer_weight(spec, ctx.alpha, layer_input, *inputs,
                                   fold_filter=not spec.filter_to_output)
        filt = inputs[-1]
        grad_bias = grad_filt = None
        if ctx.has_bias and ctx.needs_input_grad[9]:
            grad_bias = grad.sum(dim=(0, 1) if spec.linear else (0, 2, 3))
        grad_conv = grad
        if conv_out is not None:  # the filter factor was applied to the output
            filt_view = _output_view(spec, filt.detach()).to(grad.dtype)
            if needs[-1]:
                grad_filt = (grad * conv_out).sum(dim=1 if spec.linear else (2, 3))
                grad_filt = grad_filt.to(filt.dtype)
            grad_conv = grad * filt_view
        # the conv ran in autocast's dtype where autocast was on: its gradients do too
        conv_dtype = autocast_dtype if autocast_enabled else weight.dtype
        conv_input, conv_weight = layer_input.detach(), weight.detach()
        if spec.linear:
            grad_input, grad_weight = per_sample_linear_backward(
                grad_conv.to(conv_dtype), conv_input.to(conv_dtype),
                conv_weight.reshape(weight.shape[0], spec.out_channels, -1).to(conv_dtype),
                input_grad=needs[0])
        else:
            grad_input, grad_weight = per_sample_conv2d_backward(
                grad_conv.to(conv_dtype), conv_input.to(conv_dtype), conv_weight.to(conv_dtype),
                spec.stride, spec.padding, spec.dilation, input_grad=needs[0])
        if grad_input is not None:
            grad_input = grad_input.to(layer_input.dtype)
        grad_weight = grad_weight.reshape(weight.shape).to(weight.dtype)
        wanted = [t for t in inputs if t is not None and t.requires_grad]
        found = iter(torch.autograd.grad([weight], wanted, [grad_weight], allow_unused=True)
                     if wanted else ())
        input_grads = [next(found) if t is not None and t.requires_grad else None
                       for t in inputs]
        if grad_filt is not None:
            input_grads[-1] = grad_filt
        return (None, None, grad_input, *input_grads, grad_bias)


def dynamic_layer_forward(spec: DynamicLayerSpec, alpha: float, x, dft_weight, scale, small,
                          local_weight, windows, filt, bias):
    """The dynamic layer's output from its conv input (after FBM) and small per-sample factors
    (with autograd recording everything; :class:`RecomputedDynamicLayer` is the memory-lean
    node)."""
    return _dynamic_layer_forward(spec, alpha, x, dft_weight, scale, small, local_weight,
                                  windows, filt, bias)[0]


def _dynamic_layer_forward(spec, alpha, x, dft_weight, scale, small, local_weight, windows,
                           filt, bias):
    """``(output, conv output before the filter factor if that is applied to the output)``."""
    weight = _layer_weight(spec, alpha, x, dft_weight, scale, small, local_weight, windows, filt,
                           fold_filter=not spec.filter_to_output)
    out = conv_out = _apply(spec, x, weight)
    if filt is not None and spec.filter_to_output:
        out = out * _output_view(spec, filt).to(out.dtype)
    else:
        conv_out = None
    if bias is not None:
        out = out + _output_view(spec, bias[None]).to(out.dtype)
    return out, conv_out


def _apply(spec: DynamicLayerSpec, layer_input, weight):
    if spec.linear:
        return per_sample_linear(layer_input, weight.view(weight.shape[0], spec.out_channels, -1))
    return per_sample_conv2d(layer_input, weight, spec.stride, spec.padding, spec.dilation)


def _output_view(spec: DynamicLayerSpec, factor: torch.Tensor) -> torch.Tensor:
    """A ``(B, out)`` factor shaped to multiply the output."""
    return factor.unsqueeze(1) if spec.linear else factor[..., None, None]
