"""FDConv and FDLinear: Frequency Dynamic Convolution (Chen et al., "Frequency Dynamic Convolution
for Dense Image Prediction", CVPR 2025).

:class:`FDConv` is a drop-in replacement for ``nn.Conv2d`` (it subclasses it). A layer with
``min(in, out) > use_fdconv_if_c_gt`` and a square kernel size in ``use_fdconv_if_k_in`` becomes
dynamic; any other layer is exactly the plain conv and keeps its ``weight``. A dynamic layer holds
(names and shapes as in the authors' release):

* ``dft_weight`` ``(param_ratio, d1, d2 // 2 + 1, 2)``, ``d1 = out*k``, ``d2 = in*k``: the Fourier
  Disjoint Weight (Sec. 3.1), the ``rfft2`` of the conv weight in its ``d1 x d2`` layout divided by
  ``min(in, out) // 2``; the ``weight`` parameter is removed.
* ``KSM_Global``, ``KSM_Local``: Kernel Spatial Modulation (Sec. 3.2).
* ``FBM``: Frequency Band Modulation (Sec. 3.3), for kernel sizes in ``use_fbm_if_k_in`` (or any
  stride > 1 layer when ``use_fbm_for_stride``).
* ``bias`` ``(out,)`` as in ``nn.Conv2d``.

Forward for x ``(B, in, H, W)``, with p the global average pool of x (taken before FBM):

1. ``a = KSM_Global(p)``: channel ``(B, in)``, filter ``(B, out)``, spatial ``(B, k, k)``, kernel
   attention ``(B, n)``, ``n = kernel_num * param_ratio``; ``local = KSM_Local(p)``
   ``(B, out, in, k, k)``.
2. Spectrum of sample b: ``sum_p dft_weight[p] * alpha * a_kernel[b, p, group(coefficient)]`` with
   ``alpha = min(in, out) // 2 * n / param_reduction`` (one gather and one multiply, no scatter, no
   per-sample loop), inverse ``rfft2`` (float32, output size ``(d1, d2)`` given explicitly) to the
   ``d1 x d2`` matrix and back to ``(out, in, k, k)``.
3. ``weight_b = spatial * channel * filter * local * FDW_b``. The spatial and channel factors form a
   small ``(B, 1, k, k, in)`` factor applied together with the local map (one autograd node,
   :class:`_LocallyModulatedWeight`, which saves only the map and ``FDW_b``); the filter factor is
   applied to the output instead when the output is smaller than the weight (identical result).
   The weight is assembled in kernel-position-major layout ``(B, out, k, k, in)``, which is the
   channels-last layout of a conv weight, so no transposing copy of the weight is needed.
4. ``y_b = conv(FBM(x)_b, weight_b) + bias``: one grouped conv over the batch (groups = B; a batched
   matrix product for 1x1 kernels).

:class:`FDLinear` is the same for ``nn.Linear`` (a 1x1 FDConv on tokens; input ``(..., in)``,
tokens of a sample are all positions between the first and the last dimension).

Decisions where the release is silent or defective (see SPEC.md):

* ``groups > 1`` is refused when the layer would become dynamic (the dense KSM map has no grouped
  form); fallback layers accept any ``groups``.
* A non-square kernel is never in ``use_fdconv_if_k_in``: the layer falls back to the plain conv.
* ``kernel_num=None``: ``kernel_num = out // 2`` and
  ``kernel_temp = sqrt(kernel_num * param_ratio)`` (the given ``kernel_temp`` is replaced); then
  ``temp=None`` means ``temp = kernel_temp``.
* Any ``kernel_num`` up to the number of coefficients is accepted (groups differ by at most one).
* ``convert_param=False``: no FDW; the layer keeps its dense ``weight`` ``(out, in, k, k)`` and
  modulates it with KSM (no kernel attention, so no ``kernel_fc``) and FBM.
* The kernel attention ``(B, n)`` is read as ``(B, param_ratio, kernel_num)``.
* A training batch of one sample normalises ``KSM_Global.bn`` with its running statistics.
* KSM reads the pool of the layer input (before FBM).
* FBM is built when ``k in use_fbm_if_k_in`` or (``use_fbm_for_stride`` and stride > 1); so the
  strided 3x3 convs of a ResNet get FBM with the defaults.
* ``KSM_Local``'s Conv1d output channel ``o*k*k + kh*k + kw`` at input channel ``i`` modulates the
  weight element ``(o, i, kh, kw)``.
* ``ksm_global_act='softmax'`` changes only the kernel attention; the other heads stay sigmoid.
* The derived constants (FDW group indices, FBM masks) are non-persistent buffers: the state dict
  holds exactly the release's names.
* Pretrained conversion follows SPEC (divide by ``min(in, out) // 2``, repeat ``param_ratio``
  times); with ``param_ratio > 1`` the converted layer's weight at init is therefore
  ``param_ratio / param_reduction`` times the source weight (exact for the default 1 / 1.0).
"""
import math
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .fourier_disjoint import (conv_weight_to_dft_weight, fft_dtype, fourier_disjoint_groups,
                               matrix_to_conv_weight, num_rfft2_coefficients)
from .frequency_band_modulation import (FBM_DEFAULTS, FrequencyBandModulation,
                                        check_fbm_options)
from .kernel_spatial_modulation import (KSM_GLOBAL_ACTS, KSM_LOCAL_ACTS,
                                        KernelSpatialModulationGlobal,
                                        KernelSpatialModulationLocal, local_logits)

__all__ = ['FDConv', 'FDLinear', 'FDConvOptions', 'resolve_fdconv_options', 'uses_fdconv',
           'fdw_scale', 'fdw_spectrum', 'per_sample_conv2d']

_IntPair = Union[int, Tuple[int, int]]


@dataclass(frozen=True)
class FDConvOptions:
    """The release options of FDConv, validated and with ``kernel_num``/``temp`` defaults unresolved
    (``kernel_num=None`` and ``temp=None`` depend on the layer; see :meth:`for_layer`)."""
    reduction: float = 0.0625
    kernel_num: Optional[int] = 4
    use_fdconv_if_c_gt: int = 16
    use_fdconv_if_k_in: Tuple[int, ...] = (1, 3)
    use_fbm_if_k_in: Tuple[int, ...] = (3,)
    use_fbm_for_stride: bool = False
    kernel_temp: float = 1.0
    temp: Optional[float] = None
    att_multi: float = 2.0
    param_ratio: int = 1
    param_reduction: float = 1.0
    ksm_only_kernel_att: bool = False
    use_ksm_local: bool = True
    ksm_local_act: str = 'sigmoid'
    ksm_global_act: str = 'sigmoid'
    convert_param: bool = True
    fbm_cfg: dict = field(default_factory=lambda: dict(FBM_DEFAULTS))

    def for_layer(self, out_channels: int) -> 'FDConvOptions':
        """Resolve ``kernel_num=None`` (``out // 2``,
        ``kernel_temp = sqrt(kernel_num * param_ratio)``) and ``temp=None`` (``= kernel_temp``)
        for a layer with ``out_channels`` outputs."""
        options = self
        if options.kernel_num is None:
            kernel_num = max(out_channels // 2, 1)
            options = replace(options, kernel_num=kernel_num,
                              kernel_temp=math.sqrt(kernel_num * options.param_ratio))
        if options.temp is None:
            options = replace(options, temp=options.kernel_temp)
        return options


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_positive_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
            and math.isfinite(value))


def _int_tuple(name: str, value, allow_empty: bool) -> Tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, '__iter__'):
        raise ValueError(f'{name} must be a list of positive ints, got {value!r}')
    values = tuple(value)
    if not all(_is_int(v) and v > 0 for v in values) or (not values and not allow_empty):
        raise ValueError(f'{name} must be a {"" if allow_empty else "non-empty "}list of positive '
                         f'ints, got {value!r}')
    return values


def resolve_fdconv_options(reduction: float = 0.0625, kernel_num: Optional[int] = 4,
                           use_fdconv_if_c_gt: int = 16,
                           use_fdconv_if_k_in: Sequence[int] = (1, 3),
                           use_fbm_if_k_in: Sequence[int] = (3,), use_fbm_for_stride: bool = False,
                           kernel_temp: float = 1.0, temp: Optional[float] = None,
                           att_multi: float = 2.0, param_ratio: int = 1,
                           param_reduction: float = 1.0, ksm_only_kernel_att: bool = False,
                           use_ksm_local: bool = True, ksm_local_act: str = 'sigmoid',
                           ksm_global_act: str = 'sigmoid', convert_param: bool = True,
                           fbm_cfg: Optional[dict] = None) -> FDConvOptions:
    """Validate the release options; every invalid value raises ``ValueError`` naming the option and
    what it allows. ``fbm_cfg`` entries not given take the release defaults."""
    if not _is_positive_number(reduction):
        raise ValueError(f'reduction must be a positive number, got {reduction!r}')
    if kernel_num is not None and not (_is_int(kernel_num) and kernel_num >= 1):
        raise ValueError(f'kernel_num must be a positive int or None, got {kernel_num!r}')
    if not (_is_int(use_fdconv_if_c_gt) and use_fdconv_if_c_gt >= 0):
        raise ValueError(f'use_fdconv_if_c_gt must be a non-negative int, '
                         f'got {use_fdconv_if_c_gt!r}')
    fdconv_kernels = _int_tuple('use_fdconv_if_k_in', use_fdconv_if_k_in, allow_empty=True)
    fbm_kernels = _int_tuple('use_fbm_if_k_in', use_fbm_if_k_in, allow_empty=True)
    for name, value in (('use_fbm_for_stride', use_fbm_for_stride),
                        ('ksm_only_kernel_att', ksm_only_kernel_att),
                        ('use_ksm_local', use_ksm_local), ('convert_param', convert_param)):
        if not isinstance(value, bool):
            raise ValueError(f'{name} must be True or False, got {value!r}')
    if not _is_positive_number(kernel_temp):
        raise ValueError(f'kernel_temp must be a positive number, got {kernel_temp!r}')
    if temp is not None and not _is_positive_number(temp):
        raise ValueError(f'temp must be a positive number or None, got {temp!r}')
    if not _is_positive_number(att_multi):
        raise ValueError(f'att_multi must be a positive number, got {att_multi!r}')
    if not (_is_int(param_ratio) and param_ratio >= 1):
        raise ValueError(f'param_ratio must be a positive int, got {param_ratio!r}')
    if not _is_positive_number(param_reduction):
        raise ValueError(f'param_reduction must be a positive number, got {param_reduction!r}')
    if ksm_local_act not in KSM_LOCAL_ACTS:
        raise ValueError(f'ksm_local_act must be one of {KSM_LOCAL_ACTS}, got {ksm_local_act!r}')
    if ksm_global_act not in KSM_GLOBAL_ACTS:
        raise ValueError(f'ksm_global_act must be one of {KSM_GLOBAL_ACTS}, got {ksm_global_act!r}')
    if fbm_cfg is None:
        fbm_cfg = {}
    if not isinstance(fbm_cfg, dict):
        raise ValueError(f'fbm_cfg must be a dict with keys from {sorted(FBM_DEFAULTS)}, '
                         f'got {fbm_cfg!r}')
    unknown = sorted(set(fbm_cfg) - set(FBM_DEFAULTS))
    if unknown:
        raise ValueError(f'fbm_cfg has unknown keys {unknown}; '
                         f'allowed keys: {sorted(FBM_DEFAULTS)}')
    full_fbm_cfg = {**FBM_DEFAULTS, **fbm_cfg}
    full_fbm_cfg['k_list'] = list(full_fbm_cfg['k_list']) if isinstance(
        full_fbm_cfg['k_list'], (list, tuple)) else full_fbm_cfg['k_list']
    check_fbm_options(**full_fbm_cfg)
    return FDConvOptions(
        reduction=reduction, kernel_num=kernel_num, use_fdconv_if_c_gt=use_fdconv_if_c_gt,
        use_fdconv_if_k_in=fdconv_kernels, use_fbm_if_k_in=fbm_kernels,
        use_fbm_for_stride=use_fbm_for_stride, kernel_temp=float(kernel_temp),
        temp=None if temp is None else float(temp), att_multi=float(att_multi),
        param_ratio=param_ratio, param_reduction=float(param_reduction),
        ksm_only_kernel_att=ksm_only_kernel_att, use_ksm_local=use_ksm_local,
        ksm_local_act=ksm_local_act, ksm_global_act=ksm_global_act, convert_param=convert_param,
        fbm_cfg=full_fbm_cfg)


def uses_fdconv(in_channels: int, out_channels: int, kernel_size: _IntPair,
                use_fdconv_if_c_gt: int = 16, use_fdconv_if_k_in: Sequence[int] = (1, 3)) -> bool:
    """The release's fallback rule: dynamic iff ``min(in, out) > use_fdconv_if_c_gt`` and the
    (square) kernel size is in ``use_fdconv_if_k_in``; otherwise the layer is a plain conv."""
    k_h, k_w = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    return (min(in_channels, out_channels) > use_fdconv_if_c_gt and k_h == k_w
            and k_h in tuple(use_fdconv_if_k_in))


def fdw_scale(in_channels: int, out_channels: int, kernel_num: int, param_ratio: int,
              param_reduction: float) -> float:
    """``alpha = min(in, out) // 2 * kernel_num * param_ratio / param_reduction``."""
    return min(in_channels, out_channels) // 2 * kernel_num * param_ratio / param_reduction


class _GroupScaledSpectrum(torch.autograd.Function):
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
    return _GroupScaledSpectrum.apply(dft_weight, scale.to(dft_weight.dtype), group_index)


class _LocallyModulatedWeight(torch.autograd.Function):
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


def per_sample_conv2d(x: torch.Tensor, weight: torch.Tensor, stride: Tuple[int, int],
                      padding: Union[str, Tuple[int, int]],
                      dilation: Tuple[int, int]) -> torch.Tensor:
    """Convolve every sample with its own weight.

    x ``(B, in, H, W)``; weight ``(B, out, k, k, in)`` (kernel-position-major: contiguous, it is the
    channels-last layout of a conv weight, used as such without a copy where the weight is larger
    than the input); result ``(B, out, H', W')`` (strided). One grouped conv over the batch
    (groups = B); a 1x1 kernel without padding is a batched matrix product.
    """
    batch, in_channels, height, width = x.shape
    out_channels, k_h, k_w = weight.shape[1], weight.shape[2], weight.shape[3]
    if k_h == 1 and k_w == 1 and (padding == (0, 0) or padding == 'valid'):
        x = x[:, :, ::stride[0], ::stride[1]]
        out_h, out_w = x.shape[-2:]
        out = torch.matmul(weight.reshape(batch, out_channels, in_channels),
                           x.reshape(batch, in_channels, out_h * out_w))
        return out.view(batch, out_channels, out_h, out_w)
    conv_weight = weight.permute(0, 1, 4, 2, 3)  # (B, out, in, k, k), channels-last strides
    if weight.numel() <= x.numel():  # small weight: standard layout, keeps the input layout
        conv_weight = conv_weight.contiguous()
    if batch == 1:
        return F.conv2d(x, conv_weight[0], None, stride, padding, dilation)
    out = F.conv2d(x.reshape(1, batch * in_channels, height, width),
                   conv_weight.reshape(batch * out_channels, in_channels, k_h, k_w), None, stride,
                   padding, dilation, groups=batch)
    return out.view(batch, out_channels, *out.shape[-2:])


class _FrequencyDynamicMixin:
    """FDW + KSM + FBM machinery shared by :class:`FDConv` and :class:`FDLinear`.

    The host class provides ``_fd_weight_shape()`` and stores the dynamic state in the attributes
    named as in the release.
    """

    def _build_frequency_dynamic(self, init_weight: torch.Tensor, options: FDConvOptions,
                                 use_fbm: bool) -> None:
        out_channels, in_channels, k, _ = init_weight.shape
        self.fd_options = options
        self.kernel_num = options.kernel_num
        self.param_ratio = options.param_ratio
        self.is_fdconv = True
        factory = dict(device=init_weight.device, dtype=init_weight.dtype)
        if options.convert_param:
            d1, d2 = out_channels * k, in_channels * k
            coefficients = num_rfft2_coefficients(d1, d2)
            if options.kernel_num > coefficients:
                raise ValueError(f'kernel_num={options.kernel_num} exceeds the {coefficients} '
                                 f'Fourier coefficients of a ({out_channels}, {in_channels}, {k}, '
                                 f'{k}) weight; kernel_num must be in [1, {coefficients}]')
            dft_weight = conv_weight_to_dft_weight(init_weight.detach(), options.param_ratio)
            del self.weight
            self.dft_weight = nn.Parameter(dft_weight.to(**factory))
            groups = fourier_disjoint_groups(d1, d2, options.kernel_num).flatten()
            # a derived constant, not part of the state dict (int64: gather/scatter index)
            self.register_buffer('fdw_group_index', groups.to(init_weight.device),
                                 persistent=False)
            num_kernels = options.kernel_num * options.param_ratio
            self.fdw_alpha = fdw_scale(in_channels, out_channels, options.kernel_num,
                                       options.param_ratio, options.param_reduction)
        else:
            num_kernels = 1
        self.KSM_Global = KernelSpatialModulationGlobal(
            in_channels, out_channels, k, num_kernels, reduction=options.reduction,
            temp=options.temp, kernel_temp=options.kernel_temp, att_multi=options.att_multi,
            only_kernel_att=options.ksm_only_kernel_att, act=options.ksm_global_act).to(**factory)
        self.KSM_Local = None
        if options.use_ksm_local:
            self.KSM_Local = KernelSpatialModulationLocal(
                in_channels, out_channels, k, act=options.ksm_local_act,
                att_multi=options.att_multi).to(**factory)
        self.FBM = None
        if use_fbm:
            self.FBM = FrequencyBandModulation(in_channels, **options.fbm_cfg).to(**factory)

    def init_weights(self) -> None:
        """Re-apply the spec init of KSM and FBM (mmengine calls this after a parent's initializer,
        which would otherwise give the KSM heads a Kaiming init); FDW and bias are left alone."""
        if not self.is_fdconv:
            return
        self.KSM_Global.init_weights()
        if self.KSM_Local is not None:
            self.KSM_Local.init_weights()
        if self.FBM is not None:
            self.FBM.init_weights()

    @property
    def is_fdw(self) -> bool:
        """Whether the weight is the Fourier Disjoint Weight (``dft_weight``)."""
        return 'dft_weight' in self._parameters

    def fdw_weight(self, kernel_attention: Optional[torch.Tensor]) -> torch.Tensor:
        """The FDW weight for a kernel attention ``(B, kernel_num * param_ratio)`` (``None``: 1),
        before KSM: ``(B, out, in, k, k)`` (a view of the ``d1 x d2`` matrices), float32."""
        out_channels, in_channels, k, _ = self._fd_weight_shape()
        return matrix_to_conv_weight(self._fdw_matrices(kernel_attention), out_channels,
                                     in_channels, k)

    def _fdw_matrices(self, kernel_attention: Optional[torch.Tensor]) -> torch.Tensor:
        out_channels, in_channels, k, _ = self._fd_weight_shape()
        d1, d2 = out_channels * k, in_channels * k
        # irfft2 with norm='forward' (no 1/(d1*d2) pass); that factor goes into the small scale
        alpha = self.fdw_alpha / (d1 * d2)
        scale = None
        if kernel_attention is not None:
            scale = kernel_attention.reshape(-1, self.param_ratio, self.kernel_num) * alpha
        with torch.autocast(device_type=self.dft_weight.device.type, enabled=False):
            spectrum = fdw_spectrum(self.dft_weight, scale, self.fdw_group_index)
            if scale is None:
                spectrum = spectrum * alpha
            return torch.fft.irfft2(spectrum, s=(d1, d2), norm='forward')

    def _dynamic_weight(self, pooled: torch.Tensor, filter_to_output: bool):
        """Per-sample weights from the pooled input ``(B, in, 1, 1)``.

        Returns ``(weight, filter)``: ``weight`` ``(B, out, k, k, in)`` (kernel-position-major,
        float32) and the filter factor ``(B, out)`` still to apply to the output (``None`` where
        folded into the weight or absent). The spatial and channel factors (and the local map's
        constant) form a small ``(B, 1, k, k, in)`` factor that costs nothing extra to apply.
        """
        batch = pooled.shape[0]
        out_channels, in_channels, k, _ = self._fd_weight_shape()
        factors = self.KSM_Global(pooled)
        local = self.KSM_Local
        compute = torch.float64 if pooled.dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=pooled.device.type, enabled=False):
            if self.is_fdw:
                matrices = self._fdw_matrices(factors.kernel)  # (B, d1, d2), (o, kh, i, kw)
                base = matrices.view(-1, out_channels, k, in_channels, k).transpose(-1, -2)
            else:
                base = self._dense_weight().to(compute).permute(0, 2, 3, 1).unsqueeze(0)
            # The spatial and channel factors and the local map's constant form one small
            # (B, 1, k, k, in) factor; each full-size multiply is one pass over the weight.
            small = base.new_ones(batch, 1, k, k, in_channels)
            if factors.spatial is not None:
                small = small * factors.spatial.to(compute).view(batch, 1, k, k, 1)
            if factors.channel is not None:
                small = small * factors.channel.to(compute).view(batch, 1, 1, 1, in_channels)
            if local is not None:
                small = small * local.constant
                weight = _LocallyModulatedWeight.apply(
                    local.conv.weight.view(-1, local.conv.kernel_size[0]).to(compute),
                    local.windows(pooled.flatten(1).to(compute)), small, base, local.act)
            else:
                weight = (base * small).contiguous()
            filt = factors.filter
            if filt is not None and not filter_to_output:
                weight = weight * filt.to(compute).view(batch, out_channels, 1, 1, 1)
                filt = None
        return weight, filt


class FDConv(_FrequencyDynamicMixin, nn.Conv2d):
    """Frequency Dynamic Convolution (CVPR 2025), an ``nn.Conv2d`` drop-in (module docstring).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias: as
            ``nn.Conv2d`` (padding mode 'zeros').
        reduction ... fbm_cfg: the release options (SPEC.md, "FDConv"); defaults are the release's.
        device, dtype: factory kwargs as in ``nn.Conv2d``.

    Shapes: input ``(B, in, H, W)`` (any memory layout), output ``(B, out, H', W')`` as the conv.
    ``is_fdconv`` tells whether the layer is dynamic or the plain-conv fallback.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: _IntPair,
                 stride: _IntPair = 1, padding: Union[str, _IntPair] = 0,
                 dilation: _IntPair = 1, groups: int = 1, bias: bool = True, *,
                 reduction: float = 0.0625, kernel_num: Optional[int] = 4,
                 use_fdconv_if_c_gt: int = 16, use_fdconv_if_k_in: Sequence[int] = (1, 3),
                 use_fbm_if_k_in: Sequence[int] = (3,), use_fbm_for_stride: bool = False,
                 kernel_temp: float = 1.0, temp: Optional[float] = None, att_multi: float = 2.0,
                 param_ratio: int = 1, param_reduction: float = 1.0,
                 ksm_only_kernel_att: bool = False, use_ksm_local: bool = True,
                 ksm_local_act: str = 'sigmoid', ksm_global_act: str = 'sigmoid',
                 convert_param: bool = True, fbm_cfg: Optional[dict] = None, device=None,
                 dtype=None):
        options = resolve_fdconv_options(
            reduction=reduction, kernel_num=kernel_num, use_fdconv_if_c_gt=use_fdconv_if_c_gt,
            use_fdconv_if_k_in=use_fdconv_if_k_in, use_fbm_if_k_in=use_fbm_if_k_in,
            use_fbm_for_stride=use_fbm_for_stride, kernel_temp=kernel_temp, temp=temp,
            att_multi=att_multi, param_ratio=param_ratio, param_reduction=param_reduction,
            ksm_only_kernel_att=ksm_only_kernel_att, use_ksm_local=use_ksm_local,
            ksm_local_act=ksm_local_act, ksm_global_act=ksm_global_act,
            convert_param=convert_param, fbm_cfg=fbm_cfg)
        self.is_fdconv = False
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, device=device, dtype=dtype)
        if not uses_fdconv(in_channels, out_channels, self.kernel_size,
                           options.use_fdconv_if_c_gt, options.use_fdconv_if_k_in):
            return
        if groups != 1:
            raise ValueError(f'FDConv supports groups=1 only (got groups={groups}) for a layer '
                             f'that becomes dynamic: the dense kernel modulation has no grouped '
                             f'form. Use a plain conv, or exclude this kernel size via '
                             f'use_fdconv_if_k_in / this width via use_fdconv_if_c_gt.')
        options = options.for_layer(out_channels)
        k = self.kernel_size[0]
        use_fbm = k in options.use_fbm_if_k_in or (options.use_fbm_for_stride
                                                    and max(self.stride) > 1)
        self._build_frequency_dynamic(self.weight, options, use_fbm)

    def _fd_weight_shape(self) -> Tuple[int, int, int, int]:
        k = self.kernel_size[0]
        return self.out_channels, self.in_channels, k, k

    def _dense_weight(self) -> torch.Tensor:
        return self.weight

    def reset_parameters(self) -> None:
        """As ``nn.Conv2d``; a dynamic layer re-derives ``dft_weight`` from a fresh conv init and
        re-initialises bias, KSM and FBM."""
        if not self.is_fdconv:
            return super().reset_parameters()
        if self.is_fdw:
            weight = torch.empty(self._fd_weight_shape(), device=self.dft_weight.device)
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
            with torch.no_grad():
                self.dft_weight.copy_(conv_weight_to_dft_weight(weight, self.param_ratio))
        else:
            nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)
        self.init_weights()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.is_fdconv:
            return super().forward(x)
        batch, _, height, width = x.shape
        out_channels, in_channels, k, _ = self._fd_weight_shape()
        memory_format = (torch.channels_last if not x.is_contiguous()
                         and x.is_contiguous(memory_format=torch.channels_last)
                         else torch.contiguous_format)
        pooled = x.mean(dim=(2, 3), keepdim=True)
        if self.FBM is not None:
            x = self.FBM(x)
        # The filter factor goes on the output when that is smaller than the weight (identical by
        # linearity); the channel factor always joins the small spatial factor on the weight.
        out_h, out_w = _conv_output_size((height, width), k, self.stride, self.padding,
                                         self.dilation)
        filter_to_output = out_h * out_w < in_channels * k * k
        weight, filt = self._dynamic_weight(pooled, filter_to_output)
        out = per_sample_conv2d(x, weight.to(x.dtype), self.stride, self.padding, self.dilation)
        if filt is not None:
            out = out * filt.view(batch, out_channels, 1, 1).to(out.dtype)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1).to(out.dtype)
        return out.contiguous(memory_format=memory_format)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.is_fdconv:
            text += (f', kernel_num={self.kernel_num}, param_ratio={self.param_ratio}, '
                     f'fbm={self.FBM is not None}, ksm_local={self.KSM_Local is not None}')
        else:
            text += ', fdconv=False (plain conv fallback)'
        return text

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, **options) -> 'FDConv':
        """An FDConv with ``conv``'s configuration, weight (as ``dft_weight``) and bias."""
        from .fdconv_conversion import fdconv_from_conv
        return fdconv_from_conv(conv, **options)


class FDLinear(_FrequencyDynamicMixin, nn.Linear):
    """FDConv for ``nn.Linear`` (FDConv paper, Sec. 3.1: a linear layer is a 1x1 conv), used in
    Swin/ConvNeXt MLPs. Input ``(..., in_features)``; the tokens of a sample are all positions
    between the first and the last dimension (a 2-D input ``(N, in)`` is N one-token samples).
    Output ``(..., out_features)``.

    Same options and state-dict layout as a 1x1 :class:`FDConv` (``dft_weight``
    ``(param_ratio, out, in // 2 + 1, 2)``, ``KSM_Global``, ``KSM_Local``, ``bias``); no FBM (tokens
    carry no 2-D map, so ``use_fbm_if_k_in`` must not contain 1). The fallback is exactly
    ``nn.Linear`` with ``weight`` ``(out, in)``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 reduction: float = 0.0625, kernel_num: Optional[int] = 4,
                 use_fdconv_if_c_gt: int = 16, use_fdconv_if_k_in: Sequence[int] = (1, 3),
                 use_fbm_if_k_in: Sequence[int] = (3,), use_fbm_for_stride: bool = False,
                 kernel_temp: float = 1.0, temp: Optional[float] = None, att_multi: float = 2.0,
                 param_ratio: int = 1, param_reduction: float = 1.0,
                 ksm_only_kernel_att: bool = False, use_ksm_local: bool = True,
                 ksm_local_act: str = 'sigmoid', ksm_global_act: str = 'sigmoid',
                 convert_param: bool = True, fbm_cfg: Optional[dict] = None, device=None,
                 dtype=None):
        options = resolve_fdconv_options(
            reduction=reduction, kernel_num=kernel_num, use_fdconv_if_c_gt=use_fdconv_if_c_gt,
            use_fdconv_if_k_in=use_fdconv_if_k_in, use_fbm_if_k_in=use_fbm_if_k_in,
            use_fbm_for_stride=use_fbm_for_stride, kernel_temp=kernel_temp, temp=temp,
            att_multi=att_multi, param_ratio=param_ratio, param_reduction=param_reduction,
            ksm_only_kernel_att=ksm_only_kernel_att, use_ksm_local=use_ksm_local,
            ksm_local_act=ksm_local_act, ksm_global_act=ksm_global_act,
            convert_param=convert_param, fbm_cfg=fbm_cfg)
        if 1 in options.use_fbm_if_k_in:
            raise ValueError('FDLinear has no spatial map for FBM: use_fbm_if_k_in must not '
                             f'contain 1, got {list(options.use_fbm_if_k_in)}')
        self.is_fdconv = False
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        if not uses_fdconv(in_features, out_features, 1, options.use_fdconv_if_c_gt,
                           options.use_fdconv_if_k_in):
            return
        options = options.for_layer(out_features)
        self._build_frequency_dynamic(self.weight.view(out_features, in_features, 1, 1), options,
                                      use_fbm=False)

    def _fd_weight_shape(self) -> Tuple[int, int, int, int]:
        return self.out_features, self.in_features, 1, 1

    def _dense_weight(self) -> torch.Tensor:
        return self.weight.view(self.out_features, self.in_features, 1, 1)

    @property
    def in_channels(self) -> int:
        return self.in_features

    @property
    def out_channels(self) -> int:
        return self.out_features

    def reset_parameters(self) -> None:
        if not self.is_fdconv:
            return super().reset_parameters()
        if self.is_fdw:
            weight = torch.empty(self.out_features, self.in_features, 1, 1,
                                 device=self.dft_weight.device)
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
            with torch.no_grad():
                self.dft_weight.copy_(conv_weight_to_dft_weight(weight, self.param_ratio))
        else:
            nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            nn.init.uniform_(self.bias, -bound, bound)
        self.init_weights()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.is_fdconv:
            return super().forward(x)
        leading = x.shape[:-1]
        if x.dim() >= 3:
            tokens = x.reshape(x.shape[0], -1, self.in_features)  # (B, T, in)
        else:
            tokens = x.reshape(-1, 1, self.in_features)  # every row its own sample
        batch, num_tokens, _ = tokens.shape
        pooled = tokens.mean(dim=1).view(batch, self.in_features, 1, 1)
        # filter factor on the output tokens when they are fewer than the weight's rows' length
        filter_to_output = num_tokens < self.in_features
        weight, filt = self._dynamic_weight(pooled, filter_to_output)
        weight = weight.view(batch, self.out_features, self.in_features).to(tokens.dtype)
        out = torch.bmm(tokens, weight.transpose(1, 2))  # (B, T, out)
        if filt is not None:
            out = out * filt.view(batch, 1, self.out_features).to(out.dtype)
        if self.bias is not None:
            out = out + self.bias.to(out.dtype)
        return out.reshape(*leading, self.out_features)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.is_fdconv:
            text += (f', kernel_num={self.kernel_num}, param_ratio={self.param_ratio}, '
                     f'ksm_local={self.KSM_Local is not None}')
        else:
            text += ', fdconv=False (plain linear fallback)'
        return text


def _conv_output_size(size: Tuple[int, int], kernel: int, stride, padding, dilation):
    if isinstance(padding, str):
        return size if padding == 'same' else tuple(
            (s - dilation[i] * (kernel - 1) - 1) // stride[i] + 1 for i, s in enumerate(size))
    return tuple((s + 2 * padding[i] - dilation[i] * (kernel - 1) - 1) // stride[i] + 1
                 for i, s in enumerate(size))
