"""Fourier Disjoint Weight (FDW) math of FDConv (Chen et al., "Frequency Dynamic Convolution for
Dense Image Prediction", CVPR 2025, Sec. 3.1).

A dense conv weight ``(out, in, k, k)`` is laid out as a ``d1 x d2`` matrix with ``d1 = out * k``
and ``d2 = in * k`` (permute to ``(out, k, in, k)``: row ``o * k + kh``, column ``i * k + kw``). Its
``rfft2`` has ``d1 x (d2 // 2 + 1)`` complex coefficients, stored as real tensors
``(..., d1, d2 // 2 + 1, 2)`` (real, imag). The coefficient at row ``r``, column ``c`` has the
frequency index ``(fftfreq(d1)[r], rfftfreq(d2)[c])``; the coefficients are ordered by the Euclidean
norm of that index (``torch.sort`` of the flattened norms, computed on the CPU in float32 as the
authors' release does, so that ties fall the same way) and split in order into ``kernel_num``
consecutive, disjoint groups.

All functions are pure. FFTs run in float32 (float64 inputs stay float64), never in half precision,
and outside autocast.
"""
from typing import List, Optional, Tuple

import torch

__all__ = [
    'rfft2_frequency_grid', 'rfft2_frequency_norm', 'rfft2_chebyshev_frequency',
    'fourier_disjoint_groups', 'frequency_order', 'disjoint_group_sizes', 'conv_weight_to_matrix',
    'matrix_to_conv_weight',
    'conv_weight_to_spectrum', 'spectrum_to_conv_weight', 'fft_dtype', 'num_rfft2_coefficients',
    'group_sizes', 'conv_weight_to_dft_weight', 'dft_weight_to_conv_weight',
]


def fft_dtype(dtype: torch.dtype) -> torch.dtype:
    """The real dtype an FFT on ``dtype`` data runs in: float64 stays, all else is float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def rfft2_frequency_grid(d1: int, d2: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Frequency indices of an ``rfft2`` of a ``d1 x d2`` signal.

    Returns ``(freq_rows, freq_cols)`` with shapes ``(d1, 1)`` (``fftfreq(d1)``, cycles per sample,
    in ``[-0.5, 0.5)``) and ``(1, d2 // 2 + 1)`` (``rfftfreq(d2)``, in ``[0, 0.5]``), float32, CPU.
    """
    if d1 < 1 or d2 < 1:
        raise ValueError(f'rfft2 grid sizes must be positive, got d1={d1}, d2={d2}')
    return torch.fft.fftfreq(d1)[:, None], torch.fft.rfftfreq(d2)[None, :]


def rfft2_frequency_norm(d1: int, d2: int) -> torch.Tensor:
    """Euclidean norm of the frequency index of every ``rfft2`` coefficient:
    ``(d1, d2 // 2 + 1)``."""
    freq_rows, freq_cols = rfft2_frequency_grid(d1, d2)
    grid = torch.stack(torch.broadcast_tensors(freq_rows, freq_cols), dim=-1)
    return torch.linalg.vector_norm(grid, dim=-1)


def rfft2_chebyshev_frequency(h: int, w: int) -> torch.Tensor:
    """Chebyshev frequency ``max(|fy|, |fx|)`` of every ``rfft2`` coefficient:
    ``(h, w // 2 + 1)``."""
    freq_rows, freq_cols = rfft2_frequency_grid(h, w)
    return torch.maximum(freq_rows.abs(), freq_cols.abs())


def frequency_order(d1: int, d2: int) -> torch.Tensor:
    """Flat indices of the ``d1 x (d2 // 2 + 1)`` ``rfft2`` coefficients, lowest frequency norm
    first (``torch.sort`` of the flattened norms, as in the release).
    int64 ``(d1 * (d2 // 2 + 1),)``."""
    return torch.sort(rfft2_frequency_norm(d1, d2).flatten()).indices


def disjoint_group_sizes(num_coefficients: int, kernel_num: int) -> List[int]:
    """Sizes of the ``kernel_num`` consecutive groups: the first ``num_coefficients % kernel_num``
    groups hold one coefficient more (``torch.tensor_split`` semantics); an even split when
    ``kernel_num`` divides ``num_coefficients``."""
    if not 1 <= kernel_num <= num_coefficients:
        raise ValueError(f'kernel_num must be in [1, {num_coefficients}] (the number of rfft2 '
                         f'coefficients), got {kernel_num}')
    base, extra = divmod(num_coefficients, kernel_num)
    return [base + 1] * extra + [base] * (kernel_num - extra)


def fourier_disjoint_groups(d1: int, d2: int, kernel_num: int) -> torch.Tensor:
    """Group of every ``rfft2`` coefficient of a ``d1 x d2`` matrix (FDW's disjoint grouping).

    The ``n = d1 * (d2 // 2 + 1)`` coefficients are sorted by the norm of their frequency index
    (lowest first, :func:`frequency_order`) and the sorted sequence is cut into ``kernel_num``
    consecutive runs of the sizes :func:`disjoint_group_sizes` gives (differing by at most one; the
    release's even split when ``kernel_num`` divides ``n``).

    Returns an int64 tensor ``(d1, d2 // 2 + 1)`` with values in ``[0, kernel_num)``; every group is
    non-empty and no coefficient of group ``g`` has a larger norm than any of group ``g + 1``.
    """
    num_coefficients = num_rfft2_coefficients(d1, d2)
    sizes = disjoint_group_sizes(num_coefficients, kernel_num)
    group_of_position = torch.repeat_interleave(torch.arange(kernel_num), torch.tensor(sizes))
    groups = torch.empty(num_coefficients, dtype=torch.int64)
    groups[frequency_order(d1, d2)] = group_of_position
    return groups.view(d1, d2 // 2 + 1)


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
    with torch.autocast(device_type=weight.device.type, enabled=False):
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
    with torch.autocast(device_type=spectrum.device.type, enabled=False):
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


def conv_weight_to_dft_weight(weight: torch.Tensor, param_ratio: int = 1) -> torch.Tensor:
    """FDConv's ``dft_weight`` from a dense weight (SPEC: pretrained conversion).

    ``(out, in, k, k)`` conv or ``(out, in)`` linear weight ->
    ``(param_ratio, out*k, in*k//2 + 1, 2)``: the ``rfft2`` of the ``d1 x d2`` layout divided by
    ``min(in, out) // 2``, repeated ``param_ratio`` times.
    """
    weight = _as_conv_weight(weight)
    if not (isinstance(param_ratio, int) and not isinstance(param_ratio, bool)
            and param_ratio >= 1):
        raise ValueError(f'param_ratio must be a positive int, got {param_ratio!r}')
    divisor = _fdw_divisor(weight.shape[0], weight.shape[1])
    spectrum = conv_weight_to_spectrum(weight) / divisor
    return spectrum.unsqueeze(0).repeat(param_ratio, 1, 1, 1)


def dft_weight_to_conv_weight(dft_weight: torch.Tensor, out_channels: int, in_channels: int,
                              kernel_size: int) -> torch.Tensor:
    """Inverse of :func:`conv_weight_to_dft_weight`: ``(P, d1, d2//2 + 1, 2)`` -> contiguous
    ``(out, in, k, k)`` (the mean of the ``P`` copies, times ``min(in, out) // 2``)."""
    divisor = _fdw_divisor(out_channels, in_channels)
    weight = spectrum_to_conv_weight(dft_weight, out_channels, in_channels, kernel_size)
    return (weight.mean(0) * divisor).contiguous()
