"""What FDAM's and FDConv's modulation modules learned, as arrays to plot and summarise.

* FreqScale (FDAM supplementary Fig. 8): :func:`freq_scale_weight` is the per-sample real
  frequency weight ``w`` a :class:`~mmfreq.layers.FreqScale` applies to ``rfft2(z)``; the residual
  block computes ``irfft2(Z * (1 + w))``, so ``1 + w`` is the gain on each frequency.
  :func:`freq_scale_map` averages it over samples and channels and lays it out on the full,
  centred DFT grid (low frequencies in the centre, as in the figure).
* FBM (FDConv Fig. 6): :func:`fbm_band_maps` (the spatial modulation map of every band) and
  :func:`fbm_band_decomposition` (the band-pass parts of the input, highest band first, the
  low-pass rest last; they sum to the input, and ``sum_i band_i * map_i + rest`` is FBM's output).
* Fourier Disjoint Weight (FDConv Fig. 5): :func:`fdw_kernel_weights` gives the weight each of the
  ``kernel_num`` disjoint frequency groups of an FDConv / FDLinear produces on its own;
  :func:`pairwise_cosine_similarity` and :func:`weight_matrix_spectra` /
  :func:`spectral_centroid` measure how different they are.
"""
from typing import List, Optional, Sequence

import torch
from torch import nn

from ..layers.fourier_disjoint import conv_weight_to_matrix
from .spectral import amplitude_spectrum, radial_frequency, rfft2_to_full

__all__ = ['freq_scale_weight', 'freq_scale_map', 'fbm_band_maps', 'fbm_band_decomposition',
           'fdw_kernel_weights', 'pairwise_cosine_similarity', 'weight_matrix_spectra',
           'spectral_centroid', 'kernel_groups_to_show']


@torch.no_grad()
def freq_scale_weight(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The real frequency weight ``(B or 1, C, H, W // 2 + 1)`` a FreqScale applies to the rfft2
    of its input map ``x`` ``(B, C, H, W)`` (1 leading sample for the static form)."""
    return module.frequency_weight(x).detach().to(torch.float64)


@torch.no_grad()
def freq_scale_map(module: nn.Module, x: torch.Tensor, gain: bool = False,
                   shift: bool = True) -> torch.Tensor:
    """Mean FreqScale weight over samples and channels on the full ``(H, W)`` DFT grid
    (``fftshift``-ed when ``shift``); ``gain=True`` returns ``1 + w`` (the residual block's
    gain)."""
    weight = freq_scale_weight(module, x).mean(dim=(0, 1))
    full = rfft2_to_full(weight, x.shape[-1], shift=shift)
    return full + 1 if gain else full


@torch.no_grad()
def fbm_band_maps(fbm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """FBM's modulation maps for input ``x`` ``(B, C, h, w)``:
    ``(B, num_maps, spatial_group, h, w)``
    (map ``i`` multiplies band ``i``, highest band first; a last map for the low band only with
    ``lowfreq_att``)."""
    maps = fbm.band_maps(x)
    if torch.is_tensor(maps):  # already (B, num_maps, groups, h, w)
        return maps.detach()
    return torch.stack([m.detach() for m in maps], dim=1)  # a list of (B, groups, h, w)


@torch.no_grad()
def fbm_band_decomposition(fbm: nn.Module, x: torch.Tensor) -> List[torch.Tensor]:
    """The frequency bands FBM splits ``x`` ``(B, C, h, w)`` into, with FBM's own masks: for each
    cut-off in ``k_list`` the band between the previous and this cut-off (``prev - low``, highest
    first), then the remaining low-pass part. Each ``(B, C, h, w)`` float64; they sum to ``x``."""
    h, w = x.shape[-2:]
    xd = x.detach().to(torch.float64)
    spectrum = torch.fft.rfft2(xd, norm='ortho')
    prev, bands = xd, []
    for mask in fbm.band_masks(h, w):
        low = torch.fft.irfft2(spectrum * mask.to(spectrum.device), s=(h, w), norm='ortho')
        bands.append(prev - low)
        prev = low
    bands.append(prev)
    return bands


@torch.no_grad()
def fdw_kernel_weights(module: nn.Module, kernels: Optional[Sequence[int]] = None
                       ) -> torch.Tensor:
    """The weights of the disjoint frequency groups of an FDConv / FDLinear, each alone.

    Kernel ``i`` is the FDW weight for a one-hot kernel attention on group ``i`` (the inverse DFT of
    that group's coefficients, scaled as in the forward pass). ``kernels`` selects the groups
    (default all ``kernel_num * param_ratio``). Returns ``(n, out, in, k, k)`` float32.
    """
    if not getattr(module, 'is_fdconv', False) or not getattr(module, 'is_fdw', False):
        raise ValueError(f'{type(module).__name__} has no Fourier Disjoint Weight (a plain-conv '
                         'fallback layer, or convert_param=False)')
    total = module.kernel_num * module.param_ratio
    kernels = list(range(total)) if kernels is None else list(kernels)
    if not kernels or min(kernels) < 0 or max(kernels) >= total:
        raise ValueError(f'kernels must be indices in [0, {total}), got {kernels}')
    one_hot = torch.zeros(len(kernels), total, device=module.dft_weight.device)
    one_hot[torch.arange(len(kernels)), torch.tensor(kernels)] = 1.0
    return module.fdw_weight(one_hot).detach().float()


def kernel_groups_to_show(total: int, max_kernels: int) -> List[int]:
    """At most ``max_kernels`` group indices spread evenly over ``[0, total)`` (all if fewer)."""
    if total <= max_kernels:
        return list(range(total))
    step = (total - 1) / (max_kernels - 1)
    return sorted({round(i * step) for i in range(max_kernels)})


def pairwise_cosine_similarity(weights: torch.Tensor) -> torch.Tensor:
    """``(n, n)`` cosine similarities between the ``n`` flattened tensors of ``weights``
    ``(n, ...)`` (float64)."""
    flat = weights.detach().reshape(weights.shape[0], -1).to(torch.float64)
    unit = flat / torch.linalg.vector_norm(flat, dim=1, keepdim=True).clamp_min(1e-300)
    return unit @ unit.T


def weight_matrix_spectra(weights: torch.Tensor, shift: bool = True) -> torch.Tensor:
    """``|F|`` of each weight ``(n, out, in, k, k)`` in FDW's ``(out*k) x (in*k)`` matrix layout,
    where the groups are disjoint: ``(n, out*k, in*k)`` float64."""
    return amplitude_spectrum(conv_weight_to_matrix(weights), shift=shift)


def spectral_centroid(spectra: torch.Tensor, shift: bool = True) -> torch.Tensor:
    """Energy-weighted mean radial frequency (cycles/sample) of spectra ``(..., H, W)``:
    ``sum r |F|^2 / sum |F|^2``, ``(...)``."""
    radius = radial_frequency(*spectra.shape[-2:], shift=shift)
    energy = spectra.to(torch.float64) ** 2
    return (energy * radius).sum(dim=(-2, -1)) / energy.sum(dim=(-2, -1)).clamp_min(1e-300)
