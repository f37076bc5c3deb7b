"""Frequency Band Modulation (FBM) of FDConv (Chen et al., CVPR 2025, Sec. 3.3, eq. 8-10).

FBM splits the conv input x ``(B, C, h, w)`` into frequency bands and scales each band by a
per-pixel map predicted from x (the paper's "practical implementation", eq. 10: band-limiting the
input is equivalent to band-limiting the kernel)::

    X = rfft2(x, norm='ortho')                                  (float32)
    prev = x
    for i, kk in enumerate(k_list):                             (default [2, 4, 8])
        low  = irfft2(X * mask_i, s=(h, w), norm='ortho')
        out += map_i(x) * (prev - low)                          (the band between two cut-offs)
        prev = low
    out += prev                   (or map_n(x) * prev with lowfreq_att)

Because the bands telescope, maps that are all exactly 1 give ``out == x``; at init every map is
~1, so FBM(x) ~ x.

``mask_i`` keeps the coefficients whose Chebyshev frequency ``f = max(|fy|, |fx|)`` satisfies
``f < float32(0.5 / kk + 1e-8)``, as the release evaluates it: the bound is rounded to float32,
which makes the cut-off exclusive for ``kk = 2`` but inclusive for ``kk = 4, 8`` (on the 64x64
grid the masks hold 496 / 153 / 45 coefficients). The masks are computed once on a ``max_size``
grid (64x64) and resized to ``(h, w // 2 + 1)`` with nearest interpolation (docs/fdconv.md, "FBM").

Each ``map_i`` = act(``freq_weight_conv_list[i]``(x)): Conv2d(C -> spatial_group, spatial_kernel,
groups=spatial_group, same padding); the channels are split into ``spatial_group`` groups that share
a map. The masks are not part of the state dict.
"""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .fourier_disjoint import fft_dtype, rfft2_chebyshev_frequency
from .layer_inputs import autocast_off
from .narrow_conv import same_conv2d
from .separable_band_pass import SeparableBandModulation, separable_low_pass
from .torch_support import is_compiling

__all__ = ['FrequencyBandModulation', 'low_pass_masks', 'resize_masks', 'band_map_activation',
           'band_maps', 'band_modulate', 'CUTOFF_EPSILON']

CUTOFF_EPSILON = 1e-8
MAP_INIT_STD = 1e-6


def low_pass_masks(h: int, w: int, k_list: Sequence[float]) -> torch.Tensor:
    """Low-pass masks ``max(|fy|, |fx|) < float32(0.5 / kk + 1e-8)`` on an ``rfft2`` grid:
    bool ``(len(k_list), h, w // 2 + 1)``."""
    freq = rfft2_chebyshev_frequency(h, w)
    bounds = torch.tensor([0.5 / kk + CUTOFF_EPSILON for kk in k_list], dtype=torch.float32)
    return freq < bounds.view(-1, 1, 1)


def resize_masks(masks: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of ``(n, H, W)`` bool masks to ``(n, *size)`` (bool). The
    same size is returned as it is, except under torch.compile / torch.export, where that test
    would tie the program to the size (resizing to the same size changes nothing)."""
    if not is_compiling() and tuple(masks.shape[-2:]) == tuple(size):
        return masks
    resized = F.interpolate(masks[:, None].float(), size=size, mode='nearest')
    return resized[:, 0] > 0.5


def band_map_activation(logits: torch.Tensor, act: str, group_dim: int) -> torch.Tensor:
    """Band maps from logits: ``sigmoid * 2``, ``1 + tanh``, or ``softmax * G`` over the
    ``spatial_group`` axis ``group_dim`` (of size G)."""
    if act == 'tanh':
        return 1.0 + torch.tanh(logits)
    if act == 'softmax':
        return torch.softmax(logits, dim=group_dim) * logits.shape[group_dim]
    return torch.sigmoid(logits) * 2.0


class FrequencyBandModulation(nn.Module):
    """FBM (``FBM`` of an FDConv); see the module docstring.

    Args:
        in_channels: channels C of the input.
        k_list, lowfreq_att, act, spatial_group, spatial_kernel, init, max_size: the ``fbm_cfg``
            options of FDConv (:data:`~mmfreq.layers.fdconv_options.FBM_OPTIONS`), already
            validated; ``spatial_group > 64`` means one map per channel.

    Input and output: ``(B, C, h, w)``, output in the input's dtype (bands computed in float32).
    """

    def __init__(self, in_channels: int, k_list: Sequence[float] = (2, 4, 8),
                 lowfreq_att: bool = False, act: str = 'sigmoid', spatial_group: int = 1,
                 spatial_kernel: int = 3, init: str = 'zero',
                 max_size: Tuple[int, int] = (64, 64)):
        super().__init__()
        if spatial_group > 64:
            spatial_group = in_channels
        if in_channels % spatial_group:
            raise ValueError(f'fbm_cfg spatial_group={spatial_group} must divide the input '
                             f'channels ({in_channels})')
        self.in_channels = in_channels
        self.k_list = list(k_list)
        self.lowfreq_att = lowfreq_att
        self.act = act
        self.spatial_group = spatial_group
        self.init = init
        num_maps = len(self.k_list) + int(lowfreq_att)
        self.freq_weight_conv_list = nn.ModuleList(
            nn.Conv2d(in_channels, spatial_group, spatial_kernel, padding=spatial_kernel // 2,
                      groups=spatial_group, bias=True) for _ in range(num_maps))
        self.max_size = tuple(max_size)
        self.register_buffer('cached_masks', low_pass_masks(*self.max_size, self.k_list),
                             persistent=False)
        self.init_weights()

    @torch.no_grad()
    def reset_masks(self) -> None:
        """Recompute the mask buffer (a derived constant; after ``to_empty`` it is garbage)."""
        self.cached_masks.copy_(low_pass_masks(*self.max_size, self.k_list))

    def init_weights(self) -> None:
        if self.init == 'zero':
            for conv in self.freq_weight_conv_list:
                nn.init.normal_(conv.weight, std=MAP_INIT_STD)
                nn.init.zeros_(conv.bias)

    def band_masks(self, h: int, w: int) -> torch.Tensor:
        """Low-pass masks for an ``h x w`` input: bool ``(len(k_list), h, w // 2 + 1)``."""
        return resize_masks(self.cached_masks, (h, w // 2 + 1))

    def map_parameters(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The band-map convs as one grouped conv: weight ``(G * n, C / G, k, k)`` and bias
        ``(G * n,)``, output channel ``g * n + i`` being map ``i`` of group ``g``.

        The convs are concatenated along dim 0 (then reordered when G > 1), so every conv's
        weight gradient has the parameter's own contiguous strides, as DDP's buckets expect."""
        convs = self.freq_weight_conv_list
        weight = torch.cat([conv.weight for conv in convs])
        bias = torch.cat([conv.bias for conv in convs])
        if self.spatial_group > 1:  # (i, g) order -> (g, i) order
            order = torch.arange(weight.shape[0], device=weight.device)
            order = order.view(len(convs), self.spatial_group).t().flatten()
            weight, bias = weight[order], bias[order]
        return weight, bias

    def band_maps(self, x: torch.Tensor) -> torch.Tensor:
        """All modulation maps: ``(B, num_maps, spatial_group, h, w)``; map ``i`` is
        ``act(freq_weight_conv_list[i](x))``."""
        return band_maps(x, *self.map_parameters(), self.spatial_group, self.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return band_modulate(x, self.band_maps(x), self.band_masks(*x.shape[-2:]),
                             self.lowfreq_att)


def band_maps(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, groups: int,
              act: str) -> torch.Tensor:
    """Band maps ``(B, n, G, h, w)`` from the grouped map conv (:meth:`FrequencyBandModulation.
    map_parameters`) applied to ``x`` ``(B, C, h, w)``."""
    logits = same_conv2d(x, weight, bias, groups)
    logits = logits.unflatten(1, (groups, -1)).transpose(1, 2)
    return band_map_activation(logits, act, group_dim=2)


def band_modulate(x: torch.Tensor, maps: torch.Tensor, masks: torch.Tensor,
                  lowfreq_att: bool) -> torch.Tensor:
    """FBM of ``x`` ``(B, C, h, w)`` with maps ``(B, n, G, h, w)`` and low-pass masks
    ``(len(k_list), h, w // 2 + 1)`` (module docstring); bands in float32, output in x's dtype."""
    batch, channels, h, w = x.shape
    groups = maps.shape[2]
    with autocast_off(x.device):
        x_fft_in = x.to(fft_dtype(x.dtype))
        maps = maps.to(x_fft_in.dtype)
        # the same bands by matrix products where the masks allow (not traced: the FFT form is
        # what torch.compile / torch.export / torch.jit.trace / ONNX get)
        traced = is_compiling() or torch.jit.is_tracing()
        operators = None if traced or x.device.type == 'meta' else (
            separable_low_pass(masks, w, x_fft_in.dtype, x.device))
        if operators is not None:
            out = SeparableBandModulation.apply(x_fft_in, maps, operators, lowfreq_att)
            return out.to(x.dtype)
        maps = maps.unsqueeze(3)  # (B, num_maps, G, 1, h, w)
        spectrum = torch.fft.rfft2(x_fft_in, norm='ortho')
        prev, out = x_fft_in, None
        for band, mask in enumerate(masks):  # one inverse transform per band (k_list)
            low = torch.fft.irfft2(spectrum * mask, s=(h, w), norm='ortho')
            part = (prev - low).reshape(batch, groups, -1, h, w) * maps[:, band]
            out = part if out is None else out + part
            prev = low
        low = prev.reshape(batch, groups, -1, h, w)
        out = out + (low * maps[:, -1] if lowfreq_att else low)
    return out.reshape(batch, channels, h, w).to(x.dtype)
