"""Fourier Disjoint Weight (FDW) math of FDConv (Chen et al., "Frequency Dynamic Convolution for
Dense Image Prediction", CVPR 2025, Sec. 3.1).

A dense conv weight ``(out, in, k, k)`` is laid out as a ``d1 x d2`` matrix with ``d1 = out * k``
and ``d2 = in * k`` (permute to ``(out, k, in, k)``: row ``o * k + kh``, column ``i * k + kw``). Its
``rfft2`` has ``d1 x (d2 // 2 + 1)`` complex coefficients, stored as real tensors
``(..., d1, d2 // 2 + 1, 2)`` (real, imag). The coefficient at row ``r``, column ``c`` has the
frequency index ``(fftfreq(d1)[r], rfftfreq(d2)[c])``; the coefficients are ordered by the float32
Euclidean norm of that index and cut, in that order, into ``kernel_num`` consecutive disjoint
groups.

The order is a fixed function of ``(d1, d2)``, bit-identical on every machine and torch version,
and equal to the one the authors' checkpoints were trained with (docs/fdconv.md, "Fourier
groups"): the norms are rounded as torch computes ``torch.norm(grid, dim=-1)`` on an AVX2 or
AVX-512 CPU (``sqrt(fma(fx, fx, fy * fy))`` in float32), and ties are broken as libstdc++'s
``std::sort`` breaks them (:mod:`.introsort`).

All functions are pure. FFTs run in float32 (float64 inputs stay float64), never in half precision,
and outside autocast.
"""
import functools
from typing import List, Optional, Tuple

import numpy as np
import torch

from .introsort import std_sort_indices
from .layer_inputs import autocast_off

__all__ = [
    'rfft2_frequency_grid', 'rfft2_frequency_norm', 'rfft2_chebyshev_frequency',
    'fourier_disjoint_groups', 'frequency_order', 'disjoint_group_sizes', 'conv_weight_to_matrix',
    'matrix_to_conv_weight', 'conv_weight_to_spectrum', 'spectrum_to_conv_weight', 'fft_dtype',
    'num_rfft2_coefficients', 'num_kept_coefficients', 'group_sizes', 'conv_weight_to_dft_weight',
    'dft_weight_to_conv_weight', 'full_spectrum',
]


def fft_dtype(dtype: torch.dtype) -> torch.dtype:
    """The real dtype an FFT on ``dtype`` data runs in: float64 stays, all else is float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _fftfreq(n: int, one_sided: bool) -> np.ndarray:
    """``torch.fft.fftfreq(n)`` / ``rfftfreq(n)`` in float32: ``k * float32(1 / n)``."""
    if one_sided:
        k = np.arange(n // 2 + 1)
    else:
        k = np.concatenate([np.arange((n - 1) // 2 + 1), np.arange(-(n // 2), 0)])
    return k.astype(np.float32) * np.float32(1.0 / n)


def _frequency_grid(d1: int, d2: int) -> Tuple[np.ndarray, np.ndarray]:
    if d1 < 1 or d2 < 1:
        raise ValueError(f'rfft2 grid sizes must be positive, got d1={d1}, d2={d2}')
    return _fftfreq(d1, one_sided=False)[:, None], _fftfreq(d2, one_sided=True)[None, :]


def rfft2_frequency_grid(d1: int, d2: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Frequency indices of an ``rfft2`` of a ``d1 x d2`` signal.

    Returns ``(freq_rows, freq_cols)`` with shapes ``(d1, 1)`` (``fftfreq(d1)``, cycles per sample,
    in ``[-0.5, 0.5)``) and ``(1, d2 // 2 + 1)`` (``rfftfreq(d2)``, in ``[0, 0.5]``), float32, CPU.
    """
    rows, cols = _frequency_grid(d1, d2)
    return torch.from_numpy(rows), torch.from_numpy(cols)


def _round_to_float32(exact_high: np.ndarray, exact_low: np.ndarray) -> np.ndarray:
    """float32 rounding (to nearest, ties to even) of ``exact_high + exact_low``, where
    ``exact_high`` is the float64 sum and ``exact_low`` its exact rounding error."""
    rounded = exact_high.astype(np.float32)
    below = np.nextafter(rounded, np.float32(-np.inf))
    above = np.nextafter(rounded, np.float32(np.inf))
    wide = rounded.astype(np.float64)
    # only a float64 sum exactly halfway between two float32 values can round the wrong way
    up = (exact_high == (wide + above) / 2) & (exact_low > 0)
    down = (exact_high == (wide + below) / 2) & (exact_low < 0)
    return np.where(up, above, np.where(down, below, rounded))


def _frequency_norm(d1: int, d2: int) -> np.ndarray:
    """float32 ``sqrt(fma(fx, fx, float32(fy * fy)))``: the AVX2 / AVX-512 result of
    ``torch.norm(stack([fy, fx], -1), dim=-1)`` (torch 1.11 and current), computed exactly."""
    rows, cols = _frequency_grid(d1, d2)
    fy = np.broadcast_to(rows, (d1, cols.shape[1])).astype(np.float64)
    fx = np.broadcast_to(cols, (d1, cols.shape[1])).astype(np.float64)
    fy_squared = (fy * fy).astype(np.float32).astype(np.float64)  # exact product, one rounding
    fx_squared = fx * fx  # exact in float64 (24-bit factors)
    total = fx_squared + fy_squared
    high_part = total - fx_squared
    error = (fx_squared - (total - high_part)) + (fy_squared - high_part)  # Knuth's two-sum
    squared_norm = _round_to_float32(total, error)
    # float64 square root then float32 rounding is the correctly rounded float32 square root
    return np.sqrt(squared_norm.astype(np.float64)).astype(np.float32)


def rfft2_frequency_norm(d1: int, d2: int) -> torch.Tensor:
    """float32 Euclidean norm of the frequency index of every ``rfft2`` coefficient,
    ``(d1, d2 // 2 + 1)``, rounded as the authors' torch computed it (module docstring)."""
    return torch.from_numpy(_frequency_norm(d1, d2))


def rfft2_chebyshev_frequency(h: int, w: int) -> torch.Tensor:
    """Chebyshev frequency ``max(|fy|, |fx|)`` of every ``rfft2`` coefficient:
    ``(h, w // 2 + 1)``, float32."""
    rows, cols = _frequency_grid(h, w)
    return torch.from_numpy(np.maximum(np.abs(rows), np.abs(cols)))


@functools.lru_cache(maxsize=64)
def _frequency_order(d1: int, d2: int) -> np.ndarray:
    order = std_sort_indices(_frequency_norm(d1, d2).reshape(-1))
    order.setflags(write=False)
    return order


def frequency_order(d1: int, d2: int) -> torch.Tensor:
    """Flat indices of the ``d1 x (d2 // 2 + 1)`` ``rfft2`` coefficients, lowest frequency norm
    first, ties in libstdc++ ``std::sort`` order (module docstring). int64
    ``(d1 * (d2 // 2 + 1),)``; cached per shape."""
    return torch.from_numpy(_frequency_order(d1, d2).copy())


def disjoint_group_sizes(num_coefficients: int, kernel_num: int) -> List[int]:
    """Sizes of the ``kernel_num`` consecutive groups: the first ``num_coefficients % kernel_num``
    groups hold one coefficient more (``torch.tensor_split`` semantics); an even split when
    ``kernel_num`` divides ``num_coefficients``."""
    if not 1 <= kernel_num <= num_coefficients:
        raise ValueError(f'kernel_num must be in [1, {num_coefficients}] (the number of rfft2 '
                         f'coefficients), got {kernel_num}')
    base, extra = divmod(num_coefficients, kernel_num)
    return [base + 1] * extra + [base] * (kernel_num - extra)


def fourier_disjoint_groups(d1: int, d2: int, kernel_num: int,
                            num_kept: Optional[int] = None) -> torch.Tensor:
    """Group of every ``rfft2`` coefficient of a ``d1 x d2`` matrix (FDW's disjoint grouping).

    The ``n = d1 * (d2 // 2 + 1)`` coefficients are sorted by the norm of their frequency index
    (lowest first, :func:`frequency_order`); the first ``num_kept`` of them (default: all) are cut
    into ``kernel_num`` consecutive runs of the sizes :func:`disjoint_group_sizes` gives (differing
    by at most one; the release's even split when ``kernel_num`` divides ``num_kept``).

    Returns an int64 tensor ``(d1, d2 // 2 + 1)`` with values in ``[0, kernel_num)``, and ``-1``
    for coefficients beyond ``num_kept``; every group is non-empty and no coefficient of group
    ``g`` has a larger norm than any of group ``g + 1``.
    """
    num_coefficients = num_rfft2_coefficients(d1, d2)
    num_kept = num_coefficients if num_kept is None else num_kept
    return torch.from_numpy(_disjoint_groups(d1, d2, kernel_num, num_kept).copy())


@functools.lru_cache(maxsize=64)
def _disjoint_groups(d1: int, d2: int, kernel_num: int, num_kept: int) -> np.ndarray:
    sizes = disjoint_group_sizes(num_kept, kernel_num)
    group_of_position = np.full(num_rfft2_coefficients(d1, d2), -1, dtype=np.int64)
    group_of_position[:num_kept] = np.repeat(np.arange(kernel_num), sizes)
    groups = np.empty_like(group_of_position)
    groups[_frequency_order(d1, d2)] = group_of_position
    groups = groups.reshape(d1, d2 // 2 + 1)
    groups.setflags(write=False)
    return groups


def conv_weight_to_matrix(weight: torch.Tensor) -> torch.Tensor:
    """``(..., out, in, k, k)`` -> ``(..., out * k, in * k)`` (permute to ``(out, k, in, k)``)."""
    *batch, out_channels, in_channels, k_h, k_w = weight.shape
    return weight.transpose(-3, -2).reshape(*batch, out_channels * k_h, in_channels * k_w)


def matrix_to_conv_weight(matrix: torch.Tensor, out_channels: int, in_channels: int,
                          kernel_size: int) -> torch.Tensor:
    """Inverse of :func:`conv_weight_to_matrix`:
    ``(..., out * k, in * k)`` -> ``(..., out, in, k, k)``.

    Returns a view where possible (the result is not contiguous for ``k > 1``).
    """
    k = kernel_size
    *batch, rows, cols = matrix.shape
    if rows != out_channels * k or cols != in_channels * k:
        raise ValueError(f'matrix of shape {tuple(matrix.shape)} does not hold a '
                         f'({out_channels}, {in_channels}, {k}, {k}) weight')
    return matrix.reshape(*batch, out_channels, k, in_channels, k).transpose(-3, -2)


def conv_weight_to_spectrum(weight: torch.Tensor) -> torch.Tensor:
    """FDW spectrum of a conv weight: ``(..., out, in, k, k)`` -> ``(..., out*k, in*k//2 + 1, 2)``.

    ``rfft2`` (norm ``'backward'``, i.e. unscaled) of the ``d1 x d2`` matrix layout, real and
    imaginary parts in the last dimension.
    """
    with autocast_off(weight.device):
        matrix = conv_weight_to_matrix(weight.to(fft_dtype(weight.dtype)))
        return torch.view_as_real(torch.fft.rfft2(matrix))


def spectrum_to_conv_weight(spectrum: torch.Tensor, out_channels: int, in_channels: int,
                            kernel_size: int) -> torch.Tensor:
    """Inverse of :func:`conv_weight_to_spectrum`.

    ``spectrum``: ``(..., d1, d2 // 2 + 1, 2)`` real or ``(..., d1, d2 // 2 + 1)`` complex with
    ``d1 = out * k``, ``d2 = in * k``. The inverse ``rfft2`` gets the output size ``(d1, d2)``
    explicitly, so odd ``d2`` keeps its last column. Returns ``(..., out, in, k, k)`` (a view, not
    contiguous for ``k > 1``).
    """
    d1, d2 = out_channels * kernel_size, in_channels * kernel_size
    with autocast_off(spectrum.device):
        if not spectrum.is_complex():
            spectrum = torch.view_as_complex(spectrum.to(fft_dtype(spectrum.dtype)).contiguous())
        if spectrum.shape[-2:] != (d1, d2 // 2 + 1):
            raise ValueError(f'spectrum of shape {tuple(spectrum.shape)} does not belong to a '
                             f'{d1}x{d2} matrix (expected (..., {d1}, {d2 // 2 + 1}))')
        matrix = torch.fft.irfft2(spectrum, s=(d1, d2))
    return matrix_to_conv_weight(matrix, out_channels, in_channels, kernel_size)


def num_rfft2_coefficients(d1: int, d2: int) -> int:
    """Number of complex coefficients of an ``rfft2`` of a ``d1 x d2`` matrix."""
    return d1 * (d2 // 2 + 1)


def group_sizes(groups: torch.Tensor, kernel_num: Optional[int] = None) -> torch.Tensor:
    """Number of coefficients in each group of a :func:`fourier_disjoint_groups` result."""
    return torch.bincount(groups.flatten(), minlength=kernel_num or 0)


def _as_conv_weight(weight: torch.Tensor) -> torch.Tensor:
    if weight.dim() == 2:
        weight = weight[:, :, None, None]
    if weight.dim() != 4 or weight.shape[-1] != weight.shape[-2]:
        raise ValueError(f'expected a (out, in, k, k) conv or (out, in) linear weight, got '
                         f'{tuple(weight.shape)}')
    return weight


def _fdw_divisor(out_channels: int, in_channels: int) -> int:
    divisor = min(in_channels, out_channels) // 2
    if divisor < 1:
        raise ValueError(f'FDW needs min(in, out) >= 2, got in={in_channels}, out={out_channels}')
    return divisor


def num_kept_coefficients(num_coefficients: int, param_reduction: float) -> int:
    """Coefficients that are parameters: all of them, or with ``param_reduction < 1`` the
    ``int(num_coefficients * param_reduction)`` lowest-frequency ones (as the release)."""
    if param_reduction < 1:
        return int(num_coefficients * param_reduction)
    return num_coefficients


def conv_weight_to_dft_weight(weight: torch.Tensor, param_ratio: int = 1,
                              param_reduction: float = 1.0) -> torch.Tensor:
    """FDConv's ``dft_weight`` from a dense weight (pretrained conversion, docs/fdconv.md).

    ``(out, in, k, k)`` conv or ``(out, in)`` linear weight ->
    ``(param_ratio, out*k, in*k//2 + 1, 2)``: the ``rfft2`` of the ``d1 x d2`` layout divided by
    ``min(in, out) // 2``, repeated ``param_ratio`` times. With ``param_reduction < 1`` only the
    lowest-frequency coefficients are kept, in frequency order: ``(param_ratio, num_kept, 2)``.
    """
    weight = _as_conv_weight(weight)
    if not (isinstance(param_ratio, int) and not isinstance(param_ratio, bool)
            and param_ratio >= 1):
        raise ValueError(f'param_ratio must be a positive int, got {param_ratio!r}')
    divisor = _fdw_divisor(weight.shape[0], weight.shape[1])
    spectrum = conv_weight_to_spectrum(weight) / divisor
    d1, columns = spectrum.shape[:2]
    num_kept = num_kept_coefficients(d1 * columns, param_reduction)
    if num_kept < d1 * columns:
        kept = frequency_order(d1, weight.shape[1] * weight.shape[3])[:num_kept]
        spectrum = spectrum.reshape(-1, 2)[kept.to(spectrum.device)]
    return spectrum.unsqueeze(0).expand(param_ratio, *spectrum.shape).contiguous()


def full_spectrum(dft_weight: torch.Tensor, d1: int, d2: int) -> torch.Tensor:
    """``dft_weight`` as ``(P, d1, d2 // 2 + 1, 2)``: a reduced one ``(P, num_kept, 2)`` is placed
    at its frequencies, the others are zero (differentiable)."""
    if dft_weight.dim() == 4:
        return dft_weight
    columns = d2 // 2 + 1
    kept = frequency_order(d1, d2)[:dft_weight.shape[1]].to(dft_weight.device)
    full = dft_weight.new_zeros(dft_weight.shape[0], d1 * columns, 2)
    return full.index_copy(1, kept, dft_weight).view(-1, d1, columns, 2)


def dft_weight_to_conv_weight(dft_weight: torch.Tensor, out_channels: int, in_channels: int,
                              kernel_size: int) -> torch.Tensor:
    """Inverse of :func:`conv_weight_to_dft_weight`: ``(P, d1, d2//2 + 1, 2)`` (or a reduced
    ``(P, num_kept, 2)``, whose dropped coefficients count as zero) -> contiguous
    ``(out, in, k, k)`` (the mean of the ``P`` copies, times ``min(in, out) // 2``)."""
    divisor = _fdw_divisor(out_channels, in_channels)
    spectrum = full_spectrum(dft_weight, out_channels * kernel_size, in_channels * kernel_size)
    weight = spectrum_to_conv_weight(spectrum, out_channels, in_channels, kernel_size)
    return (weight.mean(0) * divisor).contiguous()
