"""FDConv and FDLinear: Frequency Dynamic Convolution (Chen et al., "Frequency Dynamic Convolution
for Dense Image Prediction", CVPR 2025).

:class:`FDConv` is a drop-in ``nn.Conv2d`` (it subclasses it). A layer with
``min(in, out) > use_fdconv_if_c_gt`` and a square kernel size in ``use_fdconv_if_k_in`` becomes
dynamic; any other layer is exactly the plain conv and keeps its ``weight``. A dynamic layer holds
(names and shapes as in the authors' release, so their state dicts load strictly):

* ``dft_weight`` ``(param_ratio, d1, d2 // 2 + 1, 2)``, ``d1 = out*k``, ``d2 = in*k``: the Fourier
  Disjoint Weight (Sec. 3.1); ``(param_ratio, num_kept, 2)`` with ``param_reduction < 1``;
  with ``convert_param=False`` the dense ``weight`` instead.
* ``KSM_Global``, ``KSM_Local``: Kernel Spatial Modulation (Sec. 3.2).
* ``FBM``: Frequency Band Modulation (Sec. 3.3), for kernel sizes in ``use_fbm_if_k_in``.
* ``bias`` ``(out,)`` as in ``nn.Conv2d``.

Forward for x ``(B, in, H, W)``, with p the global average pool of x (taken before FBM):

1. ``a = KSM_Global(p)``: channel ``(B, in)``, filter ``(B, out)``, spatial ``(B, k, k)`` and kernel
   attention ``(B, n)`` factors, ``n = kernel_num * param_ratio``; ``KSM_Local(p)``: a dense
   ``(B, out, in, k, k)`` map.
2. Spectrum of sample b: ``sum_p dft_weight[p] * alpha * a_kernel[b, p, group(coefficient)]``,
   inverse ``rfft2`` (float32) to the ``d1 x d2`` matrix, back to ``(out, in, k, k)``: ``FDW_b``.
3. ``weight_b = spatial * channel * filter * local * FDW_b`` (the filter factor goes on the output
   where that is cheaper; identical by linearity).
4. ``y_b = conv(FBM(x)_b, weight_b) + bias``: one grouped conv over the batch.

:class:`FDLinear` is the same for ``nn.Linear`` (a 1x1 FDConv on tokens; input ``(..., in)``, the
tokens of a sample are all positions between the first and the last dimension).

The maths as implemented, the options and every decision taken where the release is silent or
defective are in docs/fdconv.md; the options are declared in :mod:`.fdconv_options`.
"""
import math
from typing import Callable, Optional, Tuple, Union

import torch
from torch import nn

from .fdconv_autograd import (DynamicLayerSpec, RecomputedDynamicLayer, dynamic_layer_forward,
                              modulated_weight)
from .fdconv_options import (FDConvOptions, option_default, options_doc, options_signature,
                             resolve_fdconv_options)
from .fourier_disjoint import (conv_weight_to_dft_weight, fourier_disjoint_groups, full_spectrum,
                               num_kept_coefficients,
                               num_rfft2_coefficients)
from .frequency_band_modulation import FrequencyBandModulation
from .layer_inputs import autocast_off, check_channels, empty_batch_output
from .kernel_spatial_modulation import KernelSpatialModulationGlobal, KernelSpatialModulationLocal
from .per_sample_conv import conv_output_size, explicit_padding

__all__ = ['FDConv', 'FDLinear', 'uses_fdconv', 'fdw_scale']

_IntPair = Union[int, Tuple[int, int]]
# fbm_cfg keys the release accepts and never reads
_FBM_NO_EFFECT = ('fs_feat', 'spatial', 'global_selection')


def _run(recompute: bool, spec: DynamicLayerSpec, alpha: float, *tensors) -> torch.Tensor:
    if recompute:
        return RecomputedDynamicLayer.apply(spec, alpha, *tensors)
    return dynamic_layer_forward(spec, alpha, *tensors)


_run_eagerly = torch.compiler.disable(_run)


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


class _FrequencyDynamicMixin:
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

    def _filter_to_output(self, out_size: int, in_size: int, k: int) -> bool:
        """Whether the filter factor multiplies the output rather than the weight (identical by
        linearity): where the output is smaller than the weight, and no larger than the input
        (the recomputing node then keeps the output before the factor). Decided by the sizes, so
        not under torch.compile / torch.export."""
        out_channels, in_channels = self._fd_weight_shape()[:2]
        return (not torch.compiler.is_compiling() and out_size < in_channels * k * k
                and out_channels * out_size <= in_channels * in_size)

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
        """The layer output for the conv input ``x`` (FDLinear: tokens ``(B, T, in)``) and its
        global average pool ``pooled`` ``(B, in, 1, 1)``: the small per-sample factors from KSM,
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
        map_weight = map_bias = None
        if getattr(self, 'FBM', None) is not None:
            map_weight, map_bias = self.FBM.map_parameters()
        tensors = (x, map_weight, map_bias, self._dft_weight(), scale, small, local_weight,
                   windows, filt, self.bias)
        # under torch.compile the weight-sized work runs eagerly (inductor has no kernels for
        # its complex FFT steps, and its grouped-by-batch conv has a symbolic group count)
        run = _run_eagerly if torch.compiler.is_dynamo_compiling() else _run
        return run(self.fd_options.recompute and torch.is_grad_enabled(), spec, alpha, *tensors)

    def _fd_extra_repr(self, fallback: str) -> str:
        if not self.is_fdconv:
            return f', fdconv=False (plain {fallback} fallback)'
        text = f', kernel_num={self.kernel_num}, param_ratio={self.param_ratio}'
        if hasattr(self, 'FBM'):
            text += f', fbm={self.FBM is not None}'
        return text + f', ksm_local={self.KSM_Local is not None}'


class FDConv(_FrequencyDynamicMixin, nn.Conv2d):
    """Frequency Dynamic Convolution (CVPR 2025), an ``nn.Conv2d`` drop-in (module docstring).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
        padding_mode, device, dtype: as ``nn.Conv2d``. A dynamic layer needs ``groups=1`` and
            ``padding_mode='zeros'``.

    Options (keyword only; defaults are the release's):
    {options}

    Shapes: input ``(B, in, H, W)`` (any memory layout), output ``(B, out, H', W')`` as the conv.
    ``is_fdconv`` tells whether the layer is dynamic or the plain-conv fallback.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: _IntPair,
                 stride: _IntPair = 1, padding: Union[str, _IntPair] = 0,
                 dilation: _IntPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = 'zeros', device=None, dtype=None, **options):
        options = resolve_fdconv_options('FDConv', **options)
        self.is_fdconv = False
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, device=device, dtype=dtype)
        if not uses_fdconv(in_channels, out_channels, self.kernel_size,
                           options.use_fdconv_if_c_gt, options.use_fdconv_if_k_in):
            return
        refuse = None
        if groups != 1:
            refuse = (f'groups={groups}: the dense kernel modulation has no grouped form (the '
                      f'release does not support it either)')
        elif padding_mode != 'zeros':
            refuse = (f"padding_mode={padding_mode!r}: the per-sample conv pads with zeros (the "
                      f"release silently does too)")
        elif options.linear_mode and not options.convert_param and self.kernel_size != (1, 1):
            refuse = (f'linear_mode=True with convert_param=False needs a 1x1 kernel, got '
                      f'{self.kernel_size} (the release asserts it)')
        if refuse:
            raise ValueError(f'FDConv({in_channels}, {out_channels}, {self.kernel_size}) would be '
                             f'dynamic, but {refuse}. Use a plain conv, or exclude this layer '
                             f'via use_fdconv_if_k_in / use_fdconv_if_c_gt.')
        options = options.for_layer(out_channels)
        k = self.kernel_size[0]
        use_fbm = k in options.use_fbm_if_k_in or (options.use_fbm_for_stride
                                                    and self.stride[0] > 1)
        self._build_frequency_dynamic(self.weight, options, use_fbm)
        if options.linear_mode and not options.convert_param:
            self.weight = nn.Parameter(self.weight.detach().view(out_channels, in_channels))

    def _fd_weight_shape(self) -> Tuple[int, int, int, int]:
        k = self.kernel_size[0]
        return self.out_channels, self.in_channels, k, k

    def _dense_weight(self) -> torch.Tensor:
        return self.weight.view(self._fd_weight_shape())

    def reset_parameters(self) -> None:
        """As ``nn.Conv2d``; a dynamic layer re-derives its weight from a fresh conv init and
        re-initialises bias, KSM and FBM."""
        if not self.is_fdconv:
            return super().reset_parameters()
        self._reset_dynamic_parameters(self.in_channels * self.kernel_size[0] ** 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.is_fdconv:
            return super().forward(x)
        if x.dim() not in (3, 4):
            raise ValueError(f'FDConv expected a 3-D (unbatched) or 4-D (batched) input, got '
                             f'input{list(x.shape)}')
        if x.dim() == 3:  # unbatched, as nn.Conv2d accepts it
            return self.forward(x.unsqueeze(0)).squeeze(0)
        check_channels('FDConv', x, self.in_channels, dim=1)
        height, width = x.shape[-2:]
        k = self.kernel_size[0]
        memory_format = (torch.channels_last if not x.is_contiguous()
                         and x.is_contiguous(memory_format=torch.channels_last)
                         else torch.contiguous_format)
        padding = explicit_padding(self.padding, k, self.dilation)
        out_h, out_w = conv_output_size((height, width), k, self.stride, padding, self.dilation)
        if x.shape[0] == 0:
            return empty_batch_output(self, x, (0, self.out_channels, out_h, out_w))
        fbm = {}
        if self.FBM is not None:
            fbm = dict(masks=self.FBM.band_masks(height, width), map_groups=self.FBM.spatial_group,
                       map_act=self.FBM.act, lowfreq_att=self.FBM.lowfreq_att)
        filter_to_output = self._filter_to_output(out_h * out_w, height * width, k)
        spec = self._layer_spec(filter_to_output, stride=self.stride,
                                padding=padding, dilation=self.dilation, **fbm)
        out = self._dynamic_forward(x, x.mean(dim=(2, 3), keepdim=True), spec)
        return out.contiguous(memory_format=memory_format)

    def extra_repr(self) -> str:
        return super().extra_repr() + self._fd_extra_repr('conv')


class FDLinear(_FrequencyDynamicMixin, nn.Linear):
    """FDConv for ``nn.Linear`` (FDConv paper, Sec. 3.1: a linear layer is a 1x1 conv), used in
    Swin/ConvNeXt MLPs. Input ``(..., in_features)``; the tokens of a sample are all positions
    between the first and the last dimension (a 2-D input ``(N, in)`` is N one-token samples).
    Output ``(..., out_features)``.

    Same options and state-dict layout as a 1x1 :class:`FDConv` (``dft_weight``
    ``(param_ratio, out, in // 2 + 1, 2)``, ``KSM_Global``, ``KSM_Local``, ``bias``); no FBM (tokens
    carry no 2-D map, so ``use_fbm_if_k_in`` must not contain 1). The fallback is exactly
    ``nn.Linear`` with ``weight`` ``(out, in)``.

    Options (keyword only; defaults are the release's):
    {options}
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None, **options):
        options = resolve_fdconv_options('FDLinear', **options)
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
        return self.weight.view(self._fd_weight_shape())

    @property
    def in_channels(self) -> int:
        return self.in_features

    @property
    def out_channels(self) -> int:
        return self.out_features

    def reset_parameters(self) -> None:
        if not self.is_fdconv:
            return super().reset_parameters()
        self._reset_dynamic_parameters(self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.is_fdconv:
            return super().forward(x)
        check_channels('FDLinear', x, self.in_features, dim=-1)
        leading = x.shape[:-1]
        if x.numel() == 0:
            return empty_batch_output(self, x, (*leading, self.out_features))
        if x.dim() >= 3:
            tokens = x.reshape(x.shape[0], -1, self.in_features)  # (B, T, in)
        else:
            tokens = x.reshape(-1, 1, self.in_features)  # every row its own sample
        batch, num_tokens, _ = tokens.shape
        pooled = tokens.mean(dim=1).view(batch, self.in_features, 1, 1)
        # filter factor on the output tokens when they are fewer than the weight's rows' length
        spec = self._layer_spec(self._filter_to_output(num_tokens, num_tokens, 1), linear=True)
        out = self._dynamic_forward(tokens, pooled, spec)
        return out.reshape(*leading, self.out_features)

    def extra_repr(self) -> str:
        return super().extra_repr() + self._fd_extra_repr('linear')


for _layer in (FDConv, FDLinear):
    _layer.__doc__ = _layer.__doc__.replace('    {options}', options_doc(indent=' ' * 8))
    _layer.__init__.__signature__ = options_signature(_layer.__init__)
