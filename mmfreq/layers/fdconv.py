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
4. ``y_b = conv(FBM(x)_b, weight_b) + bias``: one grouped conv per chunk of samples.

:class:`FDLinear` is the same for ``nn.Linear`` (a 1x1 FDConv on tokens; input ``(..., in)``, the
tokens of a sample are all positions between the first and the last dimension).

The maths as implemented, the options and every decision taken where the release is silent or
defective are in docs/fdconv.md; the options are declared in :mod:`.fdconv_options`.
"""
from typing import Tuple, Union

import torch
from torch import nn

from .fdconv_options import options_doc, options_signature, resolve_fdconv_options
from .frequency_dynamic import FrequencyDynamicMixin, uses_fdconv
from .layer_inputs import check_channels, empty_batch_output
from .per_sample_conv import conv_output_size, explicit_padding
from .torch_support import COMPILE_TORCH, TORCH_VERSION, is_compiling, is_dynamo_compiling

__all__ = ['FDConv', 'FDLinear']

_IntPair = Union[int, Tuple[int, int]]

# under torch.compile FBM runs eagerly (inductor has no kernels for its complex FFT steps)
_modulate_bands_eagerly = torch.compiler.disable(lambda fbm, x: fbm(x))


class FDConv(FrequencyDynamicMixin, nn.Conv2d):
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
        pooled = x.mean(dim=(2, 3), keepdim=True)
        if self.FBM is not None:
            # recorded by autograd outside the recomputing node: what FBM keeps for backward
            # (its input, maps and kept spectrum) is a fraction of what regenerating it costs
            if is_dynamo_compiling():  # eager, as the rest of the dynamic work
                x = _modulate_bands_eagerly(self.FBM, x)
            elif is_compiling():  # torch.export: one chunk, no batch guard
                x = self.FBM(x)
            else:
                parts = x.split(self._samples_per_chunk(x))
                x = self.FBM(x) if len(parts) == 1 else torch.cat([self.FBM(p) for p in parts])
        filter_to_output = self._filter_to_output(out_h * out_w, height * width, k, x.shape[0])
        spec = self._layer_spec(filter_to_output, stride=self.stride,
                                padding=padding, dilation=self.dilation)
        out = self._dynamic_forward(x, pooled, spec)
        return out.contiguous(memory_format=memory_format)

    def extra_repr(self) -> str:
        return super().extra_repr() + self._fd_extra_repr('conv')


class FDLinear(FrequencyDynamicMixin, nn.Linear):
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
        spec = self._layer_spec(self._filter_to_output(num_tokens, num_tokens, 1, batch),
                                linear=True)
        out = self._dynamic_forward(tokens, pooled, spec)
        return out.reshape(*leading, self.out_features)

    def extra_repr(self) -> str:
        return super().extra_repr() + self._fd_extra_repr('linear')


for _layer in (FDConv, FDLinear):
    _layer.__doc__ = _layer.__doc__.replace('    {options}', options_doc(indent=' ' * 8))
    _layer.__init__.__signature__ = options_signature(_layer.__init__)


if TORCH_VERSION < COMPILE_TORCH:
    # torch < 2.6: dynamo fails on the arguments of the dynamic weight's eager region at dynamic
    # shapes, so under torch.compile the whole layer runs eagerly (the graph breaks around it)
    FDConv.forward = torch.compiler.disable(FDConv.forward)
    FDLinear.forward = torch.compiler.disable(FDLinear.forward)
