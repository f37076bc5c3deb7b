"""Custom autograd nodes of FDConv's per-sample weight (Chen et al., CVPR 2025, Sec. 3.1-3.2).

Why they exist: speed and memory. Autograd's chain for ``spectrum = dft_weight * scale[group]``
would keep a per-sample copy of the spectrum and scatter its gradient coefficient by coefficient;
the chain for ``weight = act(local) * small * FDW`` would keep every intermediate product, each as
large as the per-sample weight (``B x out x in x k x k``). These nodes save only what their
backward needs and write gradients in the layout their consumers read. Their effect is measured by
``python benchmarks/bench_fdconv.py`` (time and saved memory next to ``nn.Conv2d``); their
gradients are checked against autograd by ``gradcheck`` in ``tests/layers/test_fdconv.py``.
"""
from typing import Optional

import torch

from .fourier_disjoint import fft_dtype
from .kernel_spatial_modulation import local_logits

__all__ = ['GroupScaledSpectrum', 'LocallyModulatedWeight', 'fdw_spectrum']


class GroupScaledSpectrum(torch.autograd.Function):
    """``spectrum[b, n] = sum_p S[p, n] * scale[b, p, group_index[n]]``, complex ``(B, d1, c)``,
    with ``S`` the complex view of ``dft_weight`` ``(P, d1, c, 2)``.

    Forward: one gather of the (complex-cast) ``scale`` to every coefficient and one complex
    multiply. Backward: ``grad S = sum_b scale[b, group] * grad_b`` and, per group, the sum of
    ``Re(grad * conj(S))`` (one scatter-add); nothing per sample is saved.
    """

    @staticmethod
    def forward(ctx, dft_weight, scale, group_index):
        num_ratio, d1, cols, _ = dft_weight.shape
        spectrum = torch.view_as_complex(dft_weight).reshape(num_ratio, -1)
        per_entry = _per_entry(scale, group_index, spectrum.dtype)  # (B, P, N)
        if num_ratio == 1:
            scaled = per_entry[:, 0] * spectrum[0]
        else:
            scaled = (per_entry * spectrum).sum(1)
        ctx.save_for_backward(dft_weight, scale, group_index)
        return scaled.view(-1, d1, cols)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        dft_weight, scale, group_index = ctx.saved_tensors
        batch, num_ratio, num_groups = scale.shape
        spectrum = torch.view_as_complex(dft_weight).reshape(num_ratio, -1)
        grad = grad.reshape(batch, 1, -1)
        grad_dft = grad_scale = None
        if ctx.needs_input_grad[0]:
            grad_spectrum = (grad * _per_entry(scale, group_index, grad.dtype)).sum(0)
            grad_dft = torch.view_as_real(grad_spectrum).view_as(dft_weight)
        if ctx.needs_input_grad[1]:
            inner = (grad * spectrum.conj()).real  # (B, P, N)
            grad_scale = scale.new_zeros(batch, num_ratio, num_groups).scatter_add_(
                2, group_index.expand_as(inner), inner)
        return grad_dft, grad_scale, None


def _per_entry(scale: torch.Tensor, group_index: torch.Tensor, dtype: torch.dtype):
    """``scale[b, p, group_index[n]]`` for every coefficient, ``(B, P, N)`` in ``dtype`` (the
    complex dtype of the spectrum: the multiply that follows is then complex by complex)."""
    return torch.gather(scale.to(dtype), 2, group_index.expand(*scale.shape[:2], -1))


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
    """``weight = act(local_weight @ windows^T) * small * base`` in the kernel-position-major
    layout ``(B, out, k, k, in)``, where ``act`` is the ``KSM_Local`` map without its constant
    (sigmoid, or ``1 + tanh``), ``small`` ``(B, 1, k, k, in)`` the spatial and channel factors and
    ``base`` the FDW weight (any strides; the transposed view of the ``d1 x d2`` matrices).

    One node instead of autograd's chain: the forward keeps only the activated map (written over
    its logits) and ``base``; the backward writes the gradient of ``base`` straight into
    ``base``'s own memory layout (so the inverse FFT's adjoint reads it contiguously) and forms
    the other gradients without weight-sized temporaries beyond one.
    """

    @staticmethod
    def forward(ctx, local_weight, windows, small, base, act):
        batch = windows.shape[0]
        shape = (batch, *base.shape[1:])
        activated = local_logits(local_weight, windows).view(shape)
        weight = torch.empty(shape, dtype=base.dtype, device=base.device)
        if act == 'tanh':
            activated.tanh_()
            torch.mul(base, small, out=weight)
            weight.addcmul_(weight, activated)  # (1 + tanh) * small * base
        else:
            activated.sigmoid_()
            torch.mul(activated, small, out=weight)
            weight.mul_(base)
        ctx.act = act
        ctx.save_for_backward(local_weight, windows, small, base, activated)
        return weight

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        local_weight, windows, small, base, activated = ctx.saved_tensors
        tanh = ctx.act == 'tanh'
        needs_local, needs_windows, needs_small, needs_base = ctx.needs_input_grad[:4]
        grad_local_weight = grad_windows = grad_small = grad_base = None
        if needs_base:
            # d base = grad * map * small, computed contiguously, then copied into base's
            # strides (one transposing copy, which the inverse FFT's adjoint needs anyway)
            grad_base = torch.addcmul(grad, grad, activated) if tanh else grad * activated
            grad_base.mul_(small)
            if base.shape[0] != grad.shape[0]:  # a shared (dense) weight
                grad_base = grad_base.sum(0, keepdim=True)
            grad_base = torch.empty_strided(base.shape, base.stride(), dtype=grad.dtype,
                                            device=grad.device).copy_(grad_base)
        if needs_local or needs_windows or needs_small:
            # d (map * small), then d map, then d logits in place; kernel-position-major
            grad_map = torch.empty(grad.shape, dtype=grad.dtype, device=grad.device)
            torch.mul(grad, base, out=grad_map)
            if needs_small:
                if tanh:
                    grad_small = grad_map.sum(1, keepdim=True) + torch.linalg.vecdot(
                        grad_map, activated, dim=1).unsqueeze(1)
                else:
                    grad_small = torch.linalg.vecdot(grad_map, activated, dim=1).unsqueeze(1)
                grad_small = grad_small.sum_to_size(small.shape)
            if needs_local or needs_windows:
                grad_map.mul_(small)
                backward = (torch.ops.aten.tanh_backward if tanh
                            else torch.ops.aten.sigmoid_backward).grad_input
                backward(grad_map, activated, grad_input=grad_map)
                grad_logits = grad_map.view(grad.shape[0], -1, windows.shape[1])
                if needs_local:
                    # (B, taps, in) @ (B, in, out*k*k): the long dimension last runs fastest
                    grad_local_weight = torch.bmm(windows.transpose(1, 2).contiguous(),
                                                  grad_logits.transpose(1, 2)).sum(0).t()
                if needs_windows:
                    grad_windows = torch.bmm(local_weight.t().expand(grad.shape[0], -1, -1),
                                             grad_logits).transpose(1, 2)
        return grad_local_weight, grad_windows, grad_small, grad_base, None
