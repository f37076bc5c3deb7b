"""Frequency-domain analysis of feature maps and attention (FDAM supplementary sections A, B, H).

Conventions (all functions):

* Maps are ``(..., H, W)`` real tensors; spectra are the 2D DFT over the last two dimensions
  (``torch.fft.fft2``, no normalisation: the DC coefficient is the sum of the map, as in
  supplementary eq. 1 and 12).
* ``shift=True`` returns spectra ``fftshift``-ed (DC at ``(H // 2, W // 2)``, low frequencies in the
  centre, high frequencies at the border, the layout of supplementary Fig. 6 and 8); ``shift=False``
  keeps the FFT layout (DC at ``(0, 0)``).
* Frequencies are in cycles per sample, ``fftfreq``: in ``[-0.5, 0.5)`` along each axis; the radial
  frequency ``sqrt(fy^2 + fx^2)`` is at most ``sqrt(0.5)``.

Everything is computed in float64 (float32 inputs are promoted; the maps are small) and outside
autocast, without gradients kept unless the inputs require them.
"""
from typing import Sequence, Tuple

import torch

__all__ = [
    'frequency_grid', 'radial_frequency', 'amplitude_spectrum', 'log_amplitude_spectrum',
    'global_frequency_response', 'attention_kernels', 'local_frequency_response',
    'mean_local_frequency_response',
    'radial_profile', 'band_mean', 'high_frequency_energy_ratio', 'rfft2_to_full',
    'tokens_to_maps',
]


def _as_float64(x: torch.Tensor) -> torch.Tensor:
    if not torch.is_tensor(x):
        x = torch.as_tensor(x)
    return x.detach().to(torch.float64) if not x.is_complex() else x.detach().to(torch.complex128)


def frequency_grid(height: int, width: int, shift: bool = False
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(fy, fx)``, each ``(H, W)`` float64: the frequency of every DFT coefficient of an
    ``H x W`` map in cycles per sample (``fftfreq`` along each axis, ``fftshift``-ed if
    ``shift``)."""
    if height < 1 or width < 1:
        raise ValueError(f'map size must be positive, got {height}x{width}')
    fy = torch.fft.fftfreq(height, dtype=torch.float64)
    fx = torch.fft.fftfreq(width, dtype=torch.float64)
    if shift:
        fy, fx = torch.fft.fftshift(fy), torch.fft.fftshift(fx)
    return torch.meshgrid(fy, fx, indexing='ij')


def radial_frequency(height: int, width: int, shift: bool = False) -> torch.Tensor:
    """Euclidean norm ``sqrt(fy^2 + fx^2)`` of every DFT coefficient's frequency, ``(H, W)``."""
    fy, fx = frequency_grid(height, width, shift)
    return torch.sqrt(fy ** 2 + fx ** 2)


def amplitude_spectrum(x: torch.Tensor, shift: bool = True) -> torch.Tensor:
    """``|F(x)|`` over the last two dims, ``(..., H, W)`` float64 (``fftshift``-ed if ``shift``)."""
    spectrum = torch.fft.fft2(_as_float64(x)).abs()
    return torch.fft.fftshift(spectrum, dim=(-2, -1)) if shift else spectrum


def log_amplitude_spectrum(x: torch.Tensor, shift: bool = True, reduce_dims: Sequence[int] = (),
                           eps: float = 1e-8) -> torch.Tensor:
    """``log(eps + |F(x)|)`` for display, the amplitude first averaged over ``reduce_dims`` (e.g.
    the channel dim, for the spectrum of a feature map as in supplementary Fig. 9)."""
    amplitude = amplitude_spectrum(x, shift)
    if reduce_dims:
        amplitude = amplitude.mean(dim=tuple(reduce_dims))
    return torch.log(amplitude + eps)


def global_frequency_response(values: torch.Tensor, outputs: torch.Tensor,
                              per_channel: bool = False, shift: bool = True,
                              eps: float = 1e-12) -> torch.Tensor:
    """Global frequency response ``R(u, v) = |F(Y)(u, v)| / |F(V)(u, v)|`` (supplementary eq. 2).

    Args:
        values: the input maps ``V``, ``(..., H, W)`` (e.g. ``(B, C, H, W)`` value maps).
        outputs: the output maps ``Y`` of the same shape (e.g. the attention output).
        per_channel: True: the ratio per map, shape ``(..., H, W)``. False (default): the ratio of
            the aggregated spectra, ``mean |F(Y)| / mean |F(V)|`` over all leading dims, ``(H, W)``
            (robust to coefficients where one channel's ``|F(V)|`` happens to be near zero).
        shift: ``fftshift`` the result (DC in the centre).
        eps: added to the denominator.

    ``R > 1`` means the frequency is amplified, ``R < 1`` suppressed.
    """
    if values.shape != outputs.shape:
        raise ValueError(f'values and outputs must have the same shape, got {tuple(values.shape)} '
                         f'and {tuple(outputs.shape)}')
    amp_v = amplitude_spectrum(values, shift)
    amp_y = amplitude_spectrum(outputs, shift)
    if per_channel:
        return amp_y / (amp_v + eps)
    lead = tuple(range(amp_v.dim() - 2))
    if lead:
        amp_v, amp_y = amp_v.mean(dim=lead), amp_y.mean(dim=lead)
    return amp_y / (amp_v + eps)


def attention_kernels(attn: torch.Tensor, kv_hw: Tuple[int, int]) -> torch.Tensor:
    """Attention rows as spatial dynamic kernels ``W^A_{p,q} = Reshape(A_{p,q})`` (supplementary
    eq. 6): ``(..., N, M)`` with ``M = h * w`` key tokens -> ``(..., N, h, w)``.

    Row ``n`` is the kernel of query position ``n`` (``(p, q)`` in row-major order). Prefix tokens
    (class token) must be removed by the caller (:func:`local_frequency_response` does it).
    """
    height, width = kv_hw
    if attn.shape[-1] != height * width:
        raise ValueError(f'{attn.shape[-1]} key tokens do not match kv_hw={tuple(kv_hw)}')
    return attn.reshape(*attn.shape[:-1], height, width)


def local_frequency_response(attn: torch.Tensor, kv_hw: Tuple[int, int],
                             num_prefix_tokens: int = 0, renormalize: bool = False,
                             shift: bool = True) -> torch.Tensor:
    """Local frequency response ``R_{p,q}(u, v) = |F(W^A_{p,q})(u, v)|`` (supplementary eq. 10).

    Args:
        attn: softmax attention ``(..., N_q, N_k)`` (e.g. ``(B, heads, N, N)``).
        kv_hw: grid ``(h, w)`` of the key tokens after removing the prefix tokens.
        num_prefix_tokens: leading tokens (class token) removed from both the queries and keys.
        renormalize: rescale each spatial kernel to sum to 1 (the class token otherwise takes part
            of the mass, and the spatial kernel's DC gain is that row's spatial mass, < 1).
        shift: ``fftshift`` the responses.

    Returns ``(..., N_q - prefix, h, w)`` float64. For a softmax kernel (non-negative, summing to
    1, more than one non-zero entry) the response is 1 at DC and < 1 at every other frequency
    (supplementary eq. 24): attention is a low-pass filter.
    """
    if num_prefix_tokens:
        attn = attn[..., num_prefix_tokens:, num_prefix_tokens:]
    kernels = attention_kernels(_as_float64(attn), kv_hw)
    if renormalize:
        kernels = kernels / kernels.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-300)
    return amplitude_spectrum(kernels, shift)


def mean_local_frequency_response(attn: torch.Tensor, kv_hw: Tuple[int, int],
                                  num_prefix_tokens: int = 0, renormalize: bool = False,
                                  shift: bool = True) -> torch.Tensor:
    """Mean of :func:`local_frequency_response` over all query positions and leading dims,
    ``(h, w)``, computed one ``(N, N)`` map at a time (the full response of a 512x2048 ViT input
    would need gigabytes)."""
    maps = attn.reshape(-1, *attn.shape[-2:])
    total = None
    for single in maps:
        response = local_frequency_response(single, kv_hw, num_prefix_tokens, renormalize,
                                            shift).mean(dim=0)
        total = response if total is None else total + response
    return total / maps.shape[0]


def radial_profile(spectrum: torch.Tensor, num_bins: int = 16, shift: bool = True
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean of a spectrum ``(..., H, W)`` over rings of equal radial frequency.

    The radial frequency range ``[0, sqrt(0.5)]`` is split into ``num_bins`` equal bins; bins with
    no coefficient (small maps) are NaN. ``shift`` says whether ``spectrum`` is ``fftshift``-ed.

    Returns ``(centers (num_bins,), profile (..., num_bins))``, float64.
    """
    height, width = spectrum.shape[-2:]
    radius = radial_frequency(height, width, shift).flatten()
    edges = torch.linspace(0, 0.5 ** 0.5 + 1e-9, num_bins + 1, dtype=torch.float64)
    index = torch.bucketize(radius, edges[1:-1], right=True)  # in [0, num_bins)
    flat = _as_float64(spectrum).flatten(-2)
    sums = torch.zeros(*flat.shape[:-1], num_bins, dtype=torch.float64)
    sums.index_add_(sums.dim() - 1, index, flat)
    counts = torch.bincount(index, minlength=num_bins).to(torch.float64)
    profile = sums / counts
    profile[..., counts == 0] = float('nan')
    return (edges[:-1] + edges[1:]) / 2, profile


def band_mean(spectrum: torch.Tensor, low: float = 0.0, high: float = 1.0,
              shift: bool = True) -> torch.Tensor:
    """Mean of a spectrum ``(..., H, W)`` over coefficients with radial frequency in
    ``[low, high)`` (``(...)``); ``low=0, high=1e-9`` is the DC coefficient alone."""
    height, width = spectrum.shape[-2:]
    radius = radial_frequency(height, width, shift)
    mask = (radius >= low) & (radius < high)
    if not mask.any():
        raise ValueError(f'no frequency in [{low}, {high}) on a {height}x{width} grid')
    return _as_float64(spectrum)[..., mask].mean(dim=-1)


def high_frequency_energy_ratio(x: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Share of the spectral energy ``|F(x)|^2`` of each map ``(..., H, W)`` at radial frequencies
    ``>= cutoff`` cycles/sample (``(...)``, in [0, 1]; a constant map gives 0)."""
    energy = amplitude_spectrum(x, shift=False) ** 2
    radius = radial_frequency(*x.shape[-2:])
    total = energy.sum(dim=(-2, -1))
    high = energy[..., radius >= cutoff].sum(dim=-1)
    return torch.where(total > 0, high / total.clamp_min(1e-300), torch.zeros_like(total))


def rfft2_to_full(half: torch.Tensor, width: int, shift: bool = True) -> torch.Tensor:
    """Expand a real per-coefficient quantity in ``rfft2`` layout ``(..., H, W // 2 + 1)`` (e.g. a
    FreqScale weight or a spectrum magnitude) to the full ``(..., H, W)`` DFT grid using the
    Hermitian symmetry of real signals: ``full[u, v] = half[-u mod H, W - v]`` for ``v > W // 2``.
    """
    height, half_width = half.shape[-2:]
    if half_width != width // 2 + 1:
        raise ValueError(f'rfft2 layout of width {width} has {width // 2 + 1} columns, got '
                         f'{half_width}')
    columns = torch.arange(width)
    mirrored = columns > width // 2
    rows = torch.arange(height)
    src_cols = torch.where(mirrored, (width - columns) % width, columns)
    full = half[..., :, src_cols]  # (..., H, W): unmirrored columns taken as they are
    flipped_rows = (-rows) % height
    mirrored_part = half[..., flipped_rows, :][..., :, src_cols[mirrored]]
    full[..., :, mirrored] = mirrored_part
    return torch.fft.fftshift(full, dim=(-2, -1)) if shift else full


def tokens_to_maps(tokens: torch.Tensor, hw_shape: Tuple[int, int],
                   num_prefix_tokens: int = 0) -> torch.Tensor:
    """``(B, prefix + H*W, C)`` tokens -> ``(B, C, H, W)`` maps of the spatial tokens."""
    height, width = hw_shape
    spatial = tokens[:, num_prefix_tokens:]
    if spatial.shape[1] != height * width:
        raise ValueError(f'{spatial.shape[1]} spatial tokens do not match '
                         f'hw_shape={tuple(hw_shape)}')
    return spatial.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], height, width)

