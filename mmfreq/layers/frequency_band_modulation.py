"""Frequency Band Modulation (FBM) of FDConv (Chen et al., CVPR 2025, Sec. 3.3, eq. 8-10).

FBM splits the conv input x ``(B, C, h, w)`` into frequency bands and scales each band by a
per-pixel map predicted from x (the paper's "practical implementation", eq. 10: band-limiting the
input is equivalent to band-limiting the kernel)::

    X = rfft2(x, norm='ortho')                                  (float32)
    prev = x
    for i, kk in enumerate(k_list):                             (default [2, 4, 8])
        low  = irfft2(X * mask(f < 0.5 / kk), s=(h, w), norm='ortho')
        out += map_i(x) * (prev - low)                          (the band between two cut-offs)
        prev = low
    out += prev                   (or map_n(x) * prev with lowfreq_att)

with the Chebyshev frequency ``f = max(|fy|, |fx|)``. Because the bands telescope, maps that are all
exactly 1 give ``out == x``; at init every map is ~1, so FBM(x) ~ x.

Each ``map_i`` = act(``freq_weight_conv_list[i]``(x)): Conv2d(C -> spatial_group, spatial_kernel,
groups=spatial_group, same padding); the channels are split into ``spatial_group`` groups that share
a map. Band masks are computed once on a 64x64 grid (as in the authors' release) and resized to
``(h, w // 2 + 1)`` with nearest interpolation; the masks are not part of the state dict.
"""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .fourier_disjoint import fft_dtype, rfft2_chebyshev_frequency

__all__ = ['FrequencyBandModulation', 'low_pass_masks', 'resize_masks', 'band_map_activation',
           'check_fbm_options', 'FBM_ACTS', 'FBM_INITS', 'FBM_DEFAULTS']

FBM_ACTS = ('sigmoid', 'tanh', 'softmax')
FBM_INITS = ('zero', 'default')
FBM_DEFAULTS = dict(k_list=[2, 4, 8], lowfreq_att=False, act='sigmoid', spatial_group=1,
                    spatial_kernel=3, init='zero')
MASK_GRID = (64, 64)
MAP_INIT_STD = 1e-6


def low_pass_masks(h: int, w: int, k_list: Sequence[float]) -> torch.Tensor:
    """Low-pass masks ``max(|fy|, |fx|) < 0.5 / kk`` on an ``rfft2`` grid:
    bool ``(len(k_list), h, w // 2 + 1)``."""
    freq = rfft2_chebyshev_frequency(h, w)
    return torch.stack([freq < 0.5 / kk for kk in k_list])


def resize_masks(masks: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of ``(n, H, W)`` bool masks to ``(n, *size)`` (bool)."""
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks
    resized = F.interpolate(masks[:, None].float(), size=size, mode='nearest')
    return resized[:, 0] > 0.5


def band_map_activation(logits: torch.Tensor, act: str) -> torch.Tensor:
    """Band map from logits ``(B, G, h, w)``: ``sigmoid * 2``, ``1 + tanh`` or
    ``softmax(G) * G`` (softmax over dim 1)."""
    if act == 'tanh':
        return 1.0 + torch.tanh(logits)
    if act == 'softmax':
        return torch.softmax(logits, dim=1) * logits.shape[1]
    return torch.sigmoid(logits) * 2.0


def check_fbm_options(k_list, lowfreq_att, act, spatial_group, spatial_kernel, init) -> None:
    """Raise ``ValueError`` naming the offending ``fbm_cfg`` entry and its allowed values."""
    if (isinstance(k_list, (str, bytes)) or not hasattr(k_list, '__len__') or len(k_list) == 0
            or not all(isinstance(kk, (int, float)) and not isinstance(kk, bool) and kk > 0
                       for kk in k_list)):
        raise ValueError(f'fbm_cfg k_list must be a non-empty list of positive numbers, '
                         f'got {k_list!r}')
    if not isinstance(lowfreq_att, bool):
        raise ValueError(f'fbm_cfg lowfreq_att must be True or False, got {lowfreq_att!r}')
    if act not in FBM_ACTS:
        raise ValueError(f'fbm_cfg act must be one of {FBM_ACTS}, got {act!r}')
    if not isinstance(spatial_group, int) or isinstance(spatial_group, bool) or spatial_group < 1:
        raise ValueError(f'fbm_cfg spatial_group must be a positive int, got {spatial_group!r}')
    if (not isinstance(spatial_kernel, int) or isinstance(spatial_kernel, bool)
            or spatial_kernel < 1 or spatial_kernel % 2 == 0):
        raise ValueError(f'fbm_cfg spatial_kernel must be a positive odd int, '
                         f'got {spatial_kernel!r}')
    if init not in FBM_INITS:
        raise ValueError(f'fbm_cfg init must be one of {FBM_INITS}, got {init!r}')


class FrequencyBandModulation(nn.Module):
    """FBM (``FBM`` of an FDConv); see the module docstring.

    Args:
        in_channels: channels C of the input.
        k_list: band cut-offs ``0.5 / kk`` (default ``[2, 4, 8]``: 1/4, 1/8, 1/16 cycles/sample).
        lowfreq_att: also modulate the remaining low band (one more map).
        act: map activation, one of ``FBM_ACTS``.
        spatial_group: channel groups sharing a map (must divide C).
        spatial_kernel: odd kernel size of the map convs.
        init: ``'zero'`` (weights ~ N(0, 1e-6), bias 0: maps ~1) or ``'default'`` (PyTorch's init).

    Input and output: ``(B, C, h, w)``, output in the input's dtype (bands computed in float32).
    """

    def __init__(self, in_channels: int, k_list: Sequence[float] = (2, 4, 8),
                 lowfreq_att: bool = False, act: str = 'sigmoid', spatial_group: int = 1,
                 spatial_kernel: int = 3, init: str = 'zero'):
        super().__init__()
        check_fbm_options(k_list, lowfreq_att, act, spatial_group, spatial_kernel, init)
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
        self.register_buffer('cached_masks', low_pass_masks(*MASK_GRID, self.k_list),
                             persistent=False)
        self.init_weights()

    def init_weights(self) -> None:
        if self.init == 'zero':
            for conv in self.freq_weight_conv_list:
                nn.init.normal_(conv.weight, std=MAP_INIT_STD)
                nn.init.zeros_(conv.bias)

    def band_masks(self, h: int, w: int) -> torch.Tensor:
        """Low-pass masks for an ``h x w`` input: bool ``(len(k_list), h, w // 2 + 1)``."""
        return resize_masks(self.cached_masks, (h, w // 2 + 1))

    def band_maps(self, x: torch.Tensor) -> torch.Tensor:
        """All modulation maps at once: ``(B, num_maps, spatial_group, h, w)``; map ``i`` is
        ``act(freq_weight_conv_list[i](x))`` (the convs are applied as one grouped conv)."""
        convs = self.freq_weight_conv_list
        groups, num_maps = self.spatial_group, len(convs)
        if groups == 1:
            # one conv for all maps; concatenating along dim 0 gives every weight a gradient with
            # the parameter's own (contiguous) strides, as DDP's gradient buckets expect
            weight = torch.cat([conv.weight for conv in convs])
            bias = torch.cat([conv.bias for conv in convs])
            logits = F.conv2d(x, weight, bias, padding=convs[0].padding).unsqueeze(2)
        else:
            logits = torch.stack([conv(x) for conv in convs], dim=1)  # (B, n, G, h, w)
        if self.act == 'softmax':  # over the spatial_group channels of each map
            return torch.softmax(logits, dim=2) * groups
        return band_map_activation(logits, self.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, h, w = x.shape
        groups = self.spatial_group
        maps = self.band_maps(x)  # (B, num_maps, G, h, w)
        masks = self.band_masks(h, w)  # (n, h, w // 2 + 1)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x_fft_in = x.to(fft_dtype(x.dtype))
            maps = maps.to(x_fft_in.dtype).unsqueeze(3)  # (B, num_maps, G, 1, h, w)
            spectrum = torch.fft.rfft2(x_fft_in, norm='ortho')
            prev, out = x_fft_in, None
            for band, mask in enumerate(masks):  # one inverse transform per band (k_list)
                low = torch.fft.irfft2(spectrum * mask, s=(h, w), norm='ortho')
                part = (prev - low).reshape(batch, groups, -1, h, w) * maps[:, band]
                out = part if out is None else out + part
                prev = low
            low = prev.reshape(batch, groups, -1, h, w)
            out = out + (low * maps[:, -1] if self.lowfreq_att else low)
        return out.reshape(batch, channels, h, w).to(x.dtype)
