"""The frequency-dynamic machinery FDConv and FDLinear share (Chen et al., "Frequency Dynamic
Convolution for Dense Image Prediction", CVPR 2025): the fallback rule, building FDW + KSM + FBM
from a layer's initial weight with the release's names, initialisation, and the forward from the
small per-sample factors to the layer output (docs/fdconv.md).
"""
import math
from typing import Callable, Optional, Tuple, Union

import torch
from torch import nn

from . import batch_chunks
from .fdconv_autograd import (DynamicLayerSpec, RecomputedDynamicLayer, dynamic_layer_forward,
                              modulated_weight)
from .dense_weight_loading import conversion_report, convert_dense_weight_
from .fdconv_options import FDConvOptions, option_default
from .fourier_disjoint import (conv_weight_to_dft_weight, fourier_disjoint_groups, full_spectrum,
                               num_kept_coefficients, num_rfft2_coefficients)
from .frequency_band_modulation import FrequencyBandModulation
from .kernel_spatial_modulation import KernelSpatialModulationGlobal, KernelSpatialModulationLocal
from .layer_inputs import autocast_off
from .torch_support import is_compiling, is_dynamo_compiling

__all__ = ['FrequencyDynamicMixin', 'uses_fdconv', 'fdw_scale']

_IntPair = Union[int, Tuple[int, int]]
# fbm_cfg keys the release accepts and never reads
_FBM_NO_EFFECT = ('fs_feat', 'spatial', 'global_selection')


def _run(recompute: bool, spec: DynamicLayerSpec, alpha: float, *tensors) -> torch.Tensor:
    if recompute:
        return RecomputedDynamicLayer.apply(spec, alpha, *tensors)
    return dynamic_layer_forward(spec, alpha, *tensors)


_run_eagerly = torch.compiler.disable(_run)

# positions, in the tensors :func:`_run` takes, of those with one entry per sample
_PER_SAMPLE = (0, 2, 3, 5, 6)


def _run_in_chunks(recompute: bool, spec: DynamicLayerSpec, alpha: float, chunk: int,
                   *tensors) -> torch.Tensor:
    """:func:`_run` on chunks of ``chunk`` samples, outputs concatenated along the batch
    (:mod:`.batch_chunks`); each chunk is its own autograd node."""
    batch = tensors[0].shape[0]
    if chunk >= batch:
        return _run(recompute, spec, alpha, *tensors)
    outputs = []
    for start in range(0, batch, chunk):
        part = [t[start:start + chunk] if i in _PER_SAMPLE and t is not None else t
                for i, t in enumerate(tensors)]
        outputs.append(_run(recompute, spec, alpha, *part))
    return torch.cat(outputs)


def uses_fdconv(in_channels: int, out_channels: int, kernel_size: _IntPair,
                use_fdconv_if_c_gt: int = option_default('use_fdconv_if_c_gt'),
                use_fdconv_if_k_in=option_default('use_fdconv_if_k_in')) -> bool:
    """The release's fallback rule: dynamic iff ``min(in, out) > use_fdconv_if_c_gt`` and the
    (square) kernel size is in ``use_fdconv_if_k_in``; otherwise the layer is a plain conv."""
    k_h, k_w = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    return (min(in_channels, out_channels) > use_fdconv_if_c_gt and k_h == k_w
            and k_h in tuple(use_fdconv_if_k_in))


def fdw_scale(in_channels: int, out_channels: int, kernel_num: int, param_ratio: int,
              param_reduction: float) -> float:
    """``alpha = min(in, out) // 2 * kernel_num * param_ratio / param_reduction``; the release
    applies no scale at all when ``param_reduction < 1``."""
    if param_reduction < 1:
        return 1.0
    return min(in_channels, out_channels) // 2 * kernel_num * param_ratio / param_reduction


class FrequencyDynamicMixin:
    """FDW + KSM + FBM machinery shared by :class:`FDConv` and :class:`FDLinear`; the host class
    provides ``_fd_weight_shape()`` and ``_dense_weight()``."""

    def _build_frequency_dynamic(self, init_weight: torch.Tensor, options: FDConvOptions,
                                 use_fbm: bool) -> None:
        out_channels, in_channels, k, _ = init_weight.shape
        self.fd_options = options
        self.kernel_num = options.kernel_num
        self.param_ratio = options.param_ratio
        self.is_fdconv = True
        factory = dict(device=init_weight.device, dtype=init_weight.dtype)
        d1, d2 = out_channels * k, in_channels * k
        num_kept = num_kept_coefficients(num_rfft2_coefficients(d1, d2), options.param_reduction)
        if not 1 <= options.kernel_num <= num_kept:
            raise ValueError(f'kernel_num={options.kernel_num} must be in [1, {num_kept}]: a '
                             f'({out_channels}, {in_channels}, {k}, {k}) weight has {num_kept} '
                             f'Fourier coefficients (param_reduction={options.param_reduction})')
        if options.convert_param:
            dft_weight = conv_weight_to_dft_weight(init_weight.detach(), options.param_ratio,
                                                   options.param_reduction)
            del self.weight
            self.dft_weight = nn.Parameter(dft_weight.to(**factory))
        # a derived constant, not part of the state dict (int64: gather/scatter index)
        self.register_buffer('fdw_group_index', self._group_index().to(init_weight.device),
                             persistent=False)
        self.fdw_alpha = fdw_scale(in_channels, out_channels, options.kernel_num,
                                   options.param_ratio, options.param_reduction)
        self.KSM_Global = KernelSpatialModulationGlobal(
            in_channels, out_channels, k, options.kernel_num * options.param_ratio,
            reduction=options.reduction, temp=options.temp, kernel_temp=options.kernel_temp,
            att_multi=options.att_multi, only_kernel_att=options.ksm_only_kernel_att,
            act=options.ksm_global_act).to(**factory)
        self.KSM_Local = None
        if options.use_ksm_local:
            self.KSM_Local = KernelSpatialModulationLocal(
                in_channels, out_channels, k, act=options.ksm_local_act,
                att_multi=options.att_multi).to(**factory)
        self.FBM = None
        if use_fbm:
            fbm_options = {key: value for key, value in options.fbm_cfg.items()
                           if key not in _FBM_NO_EFFECT}
            self.FBM = FrequencyBandModulation(in_channels, **fbm_options).to(**factory)

    def _group_index(self) -> torch.Tensor:
        """Group of every Fourier coefficient, flat; the coefficients a reduced ``dft_weight``
        drops are zero, so their group does not matter (0)."""
        out_channels, in_channels, k, _ = self._fd_weight_shape()
        d1, d2 = out_channels * k, in_channels * k
        num_kept = num_kept_coefficients(num_rfft2_coefficients(d1, d2),
                                         self.fd_options.param_reduction)
        return fourier_disjoint_groups(d1, d2, self.kernel_num, num_kept).flatten().clamp(min=0)

    def init_weights(self) -> None:
        """Re-apply the release init of KSM and FBM (mmengine calls this after a parent's
        initializer, which would otherwise give the KSM heads a Kaiming init); FDW and bias are
        left alone."""
        if not self.is_fdconv:
            return
        self.KSM_Global.init_weights()
        if self.KSM_Local is not None:
            self.KSM_Local.init_weights()
        if self.FBM is not None:
            self.FBM.init_weights()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # a plain checkpoint's dense weight becomes dft_weight here, on every load path
        # (dense_weight_loading.py)
        with conversion_report(load=missing_keys):
            if self.is_fdconv and self.is_fdw:
                convert_dense_weight_(self, state_dict, prefix, error_msgs)
            super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                          missing_keys, unexpected_keys, error_msgs)

    @property
    def is_fdw(self) -> bool:
        """Whether the parameter is the Fourier Disjoint Weight ``dft_weight`` (else the dense
        ``weight``, whose Fourier weight is taken in every forward)."""
        return 'dft_weight' in self._parameters

    @torch.no_grad()
    def set_dense_weight(self, weight: torch.Tensor) -> None:
        """Set the layer's weight from a dense ``(out, in, k, k)`` (or ``(out, in)``) weight: as
        ``dft_weight`` by the FDW transform (pretrained conversion), else copied."""
        out_channels, in_channels, k, _ = self._fd_weight_shape()
        weight = weight.reshape(out_channels, in_channels, k, k)
        if self.is_fdconv and self.is_fdw:
            self.dft_weight.copy_(conv_weight_to_dft_weight(
                weight, self.param_ratio, self.fd_options.param_reduction))
        else:
            self.weight.copy_(weight.view_as(self.weight))

    def init_dense_weight_(self, init: Callable[[torch.Tensor], object]) -> None:
        """Initialise the weight as ``init`` (an in-place ``nn.init`` function) initialises a
        dense ``(out, in, k, k)`` weight; a dynamic layer stores that weight's FDW."""
        weight = torch.empty(self._fd_weight_shape(), device=self._parameter_device())
        init(weight)
        self.set_dense_weight(weight)

    def _reset_dynamic_parameters(self, fan_in: int) -> None:
        """``nn.Conv2d`` / ``nn.Linear``'s own init of weight and bias, through the FDW; then the
        release init of KSM and FBM, and the derived constants (after ``to_empty`` they hold
        whatever the memory held)."""
        with torch.no_grad():
            self.fdw_group_index.copy_(self._group_index())
            if getattr(self, 'FBM', None) is not None:
                self.FBM.reset_masks()
        self.init_dense_weight_(lambda weight: nn.init.kaiming_uniform_(weight, a=math.sqrt(5)))
        if self.bias is not None:
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)
        self.init_weights()

    def _parameter_device(self) -> torch.device:
        return next(self.parameters()).device

    def _dft_weight(self) -> torch.Tensor:
        """The full ``(P, d1, d2 // 2 + 1, 2)`` Fourier weight: ``dft_weight`` (a reduced one
        placed at its frequencies), or the FDW of the dense weight (``convert_param=False``)."""
        out_channels, in_channels, k, _ = self._fd_weight_shape()
        if self.is_fdw:
            return full_spectrum(self.dft_weight, out_channels * k, in_channels * k)
        return conv_weight_to_dft_weight(self._dense_weight(), self.param_ratio)

    def _filter_to_output(self, out_size: int, in_size: int, k: int, batch: int) -> bool:
        """Whether the filter factor multiplies the output rather than the weight (identical by
        linearity): where the output is smaller than the weight, and the output before the
        factor, which the recomputing node then keeps, is small next to what the layer keeps
        anyway: no larger than the input (with FBM, which keeps the input and its own output
        already, half the input), or the whole batch's no larger than half of one weight.
        Decided by the sizes, so not under torch.compile / torch.export."""
        out_channels, in_channels = self._fd_weight_shape()[:2]
        kept_inputs = 2 if getattr(self, 'FBM', None) is not None else 1
        weight_size = out_channels * in_channels * k * k
        return (not is_compiling() and out_size < in_channels * k * k
                and (kept_inputs * out_channels * out_size <= in_channels * in_size
                     or 2 * batch * out_channels * out_size <= weight_size))

    def _layer_spec(self, filter_to_output: bool, **geometry) -> DynamicLayerSpec:
        out_channels, in_channels, k, _ = self._fd_weight_shape()
        return DynamicLayerSpec(
            out_channels, in_channels, k, self.fdw_group_index,
            None if self.KSM_Local is None else self.KSM_Local.act, filter_to_output,
            **geometry)

    def fdw_weight(self, kernel_attention: Optional[torch.Tensor]) -> torch.Tensor:
        """The FDW weight for a kernel attention ``(B, kernel_num * param_ratio)`` (``None``: 1),
        before KSM: ``(B, out, in, k, k)``, float32."""
        out_channels, in_channels, k, _ = self._fd_weight_shape()
        alpha = self.fdw_alpha / (out_channels * k * in_channels * k)
        scale = None
        if kernel_attention is not None:
            scale = kernel_attention.reshape(-1, self.param_ratio, self.kernel_num) * alpha
        with autocast_off(self.fdw_group_index.device):
            weight = modulated_weight(self._layer_spec(False), self._dft_weight(), scale,
                                      torch.ones(()), None, None, alpha)
        return weight.permute(0, 1, 4, 2, 3)

    def _dynamic_forward(self, x: torch.Tensor, pooled: torch.Tensor,
                         spec: DynamicLayerSpec) -> torch.Tensor:
        """The layer output for the conv input ``x`` (after FBM; FDLinear: tokens ``(B, T, in)``)
        and the global average pool ``pooled`` ``(B, in, 1, 1)`` of the layer input: the small
        per-sample factors from KSM,
        then everything weight-sized in :func:`dynamic_layer_forward`, or in one
        :class:`RecomputedDynamicLayer` node that regenerates it for backward."""
        batch = pooled.shape[0]
        out_channels, in_channels, k, _ = self._fd_weight_shape()
        d1, d2 = out_channels * k, in_channels * k
        factors = self.KSM_Global(pooled)
        compute = torch.float64 if pooled.dtype == torch.float64 else torch.float32
        # irfft2 with norm='forward' (no 1/(d1*d2) pass); that factor goes into the small scale
        alpha = self.fdw_alpha / (d1 * d2)
        with autocast_off(pooled.device):
            scale = None
            if factors.kernel is not None:
                scale = (factors.kernel.to(compute).reshape(-1, self.param_ratio, self.kernel_num)
                         * alpha)
            # the spatial and channel factors and the local map's constant form one small
            # (B, 1, k, k, in) factor; each full-size multiply is one pass over the weight
            small = torch.ones(batch, 1, k, k, in_channels, dtype=compute, device=pooled.device)
            if factors.spatial is not None:
                small = small * factors.spatial.to(compute).view(batch, 1, k, k, 1)
            if factors.channel is not None:
                small = small * factors.channel.to(compute).view(batch, 1, 1, 1, in_channels)
            local_weight = windows = None
            if self.KSM_Local is not None:
                small = small * self.KSM_Local.constant
                local_weight, windows = (
                    t.to(compute) for t in self.KSM_Local.factors(pooled.flatten(1)))
            filt = None if factors.filter is None else factors.filter.to(compute)
        tensors = (x, self._dft_weight(), scale, small, local_weight, windows, filt, self.bias)
        # under torch.compile the weight-sized work runs eagerly (inductor has no kernels for
        # its complex FFT steps, and its grouped-by-batch conv has a symbolic group count)
        recompute = self.fd_options.recompute and torch.is_grad_enabled()
        if is_dynamo_compiling():
            return _run_eagerly(recompute, spec, alpha, *tensors)
        return _run_in_chunks(recompute, spec, alpha, self._samples_per_chunk(x), *tensors)

    def _samples_per_chunk(self, x: torch.Tensor) -> int:
        """Samples of ``x`` (batch first) processed at once (:mod:`.batch_chunks`): by the
        larger of a sample's weight and its input."""
        out_channels, in_channels, k, _ = self._fd_weight_shape()
        sample_bytes = 4 * max(out_channels * in_channels * k * k, x[0].numel())
        return batch_chunks.samples_per_chunk(x.shape[0], sample_bytes, x.device,
                                              batch_chunks.CHUNK_BYTES)

    def _fd_extra_repr(self, fallback: str) -> str:
        if not self.is_fdconv:
            return f', fdconv=False (plain {fallback} fallback)'
        text = f', kernel_num={self.kernel_num}, param_ratio={self.param_ratio}'
        if hasattr(self, 'FBM'):
            text += f', fbm={self.FBM is not None}'
        return text + f', ksm_local={self.KSM_Local is not None}'
