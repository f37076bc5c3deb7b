"""FBM's band split as matrix products (FDConv, Chen et al., CVPR 2025, Sec. 3.3).

FBM's low-pass masks are boxes, ``max(|fy|, |fx|) < cut-off``, resized per axis with nearest
interpolation, so each mask is the outer product of one row mask and one column mask, and the
masks of ``k_list`` are nested. Each low-pass ``irfft2(rfft2(x) * mask, norm='ortho')`` is then
separable and of low rank: along the width a projection onto the kept one-sided frequencies (a
prefix), along the height onto the kept rows of the two-sided spectrum (often not symmetric in
``f`` and ``-f``, hence complex). One projection onto the widest band serves all bands: for an
``(h, w)`` map,

    P = x @ A_w                     (h, 2 a_0)  real and imaginary parts, interleaved
    Z = A_h @ P                     (r_0, a_0)  complex: the kept spectrum of the widest band
    low_i = (S_h[:, :r_i] @ Z[:r_i, :c_i]) @ S_w[:2 c_i]          (h, w)

with the kept rows ordered innermost band first, so that band i keeps the first ``r_i`` rows and
the first ``c_i`` columns. ``A_w`` is the orthonormal ``rfft`` restricted to the kept columns,
``A_h`` the orthonormal DFT restricted to the kept rows, ``S_h = A_h^H`` and ``S_w`` the
orthonormal ``irfft`` from those columns (weight 1 for the DC and Nyquist columns, whose
imaginary parts ``irfft`` ignores, 2 for the others). It equals the FFT form to float32 rounding
(tests/layers/test_fdconv_fast_paths.py) at a fraction of its cost where the bands are narrow
(docs/fdconv.md, "Memory and speed"). Its adjoint, for the backward pass, is the same products
transposed, again with one projection for all bands.
"""
import functools
import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch

__all__ = ['SeparableLowPass', 'separable_low_pass', 'SeparableBandModulation']


@dataclass(frozen=True)
class SeparableLowPass:
    """The matrices of the separable low-pass filters of one mask stack at one map size.

    ``rows`` / ``cols``: kept rows / one-sided columns per band (nested, widest first);
    ``analysis_w`` ``(w, 2 a_0)`` real, ``analysis_h`` ``(r_0, h)`` complex, ``synthesis_h``
    ``(h, r_0)`` complex, ``synthesis_w`` ``(2 a_0, w)`` real.
    """
    rows: Tuple[int, ...]
    cols: Tuple[int, ...]
    analysis_w: torch.Tensor
    analysis_h: torch.Tensor
    synthesis_h: torch.Tensor
    synthesis_w: torch.Tensor

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """The widest band's kept spectrum of ``x`` ``(..., h, w)``: complex ``(..., r_0, a_0)``."""
        projected = x @ self.analysis_w
        projected = torch.view_as_complex(projected.unflatten(-1, (-1, 2)))
        return torch.matmul(self.analysis_h, projected)

    def low(self, spectrum: torch.Tensor, band: int) -> torch.Tensor:
        """Low-pass ``band`` from :meth:`spectrum`: real ``(..., h, w)``."""
        rows, cols = self.rows[band], self.cols[band]
        partial = torch.matmul(self.synthesis_h[:, :rows], spectrum[..., :rows, :cols])
        return torch.view_as_real(partial).flatten(-2) @ self.synthesis_w[:2 * cols]

    def adjoint(self, grads: List[torch.Tensor]) -> torch.Tensor:
        """``sum_i low_i^T(grads[i])``: the gradient of the input for output gradients ``grads``
        ``(..., h, w)`` of the bands (one per band, None for none)."""
        total = None
        for band, grad in enumerate(grads):
            if grad is None:
                continue
            rows, cols = self.rows[band], self.cols[band]
            partial = torch.view_as_complex((grad @ self.synthesis_w[:2 * cols].t()).unflatten(
                -1, (-1, 2)))
            part = torch.matmul(self.analysis_h[:rows], partial)  # S_h^H = A_h
            if total is None:
                total = part.new_zeros(*part.shape[:-2], self.rows[0], self.cols[0])
            total[..., :rows, :cols] += part
        projected = torch.matmul(self.synthesis_h, total)  # A_h^H = S_h
        return torch.view_as_real(projected).flatten(-2) @ self.analysis_w.t()


def _kept_order(kept: torch.Tensor) -> Optional[Tuple[torch.Tensor, Tuple[int, ...]]]:
    """For nested bool masks ``(n, L)`` (widest first): the indices kept by the widest band,
    innermost first, and how many each band keeps; None if the masks are not nested."""
    if any(bool((kept[i + 1] & ~kept[i]).any()) for i in range(len(kept) - 1)):
        return None
    depth = kept.sum(0)
    order = torch.argsort(-depth, stable=True)[:int(kept[0].sum())]
    return order, tuple(int(n) for n in kept.sum(1))


@functools.lru_cache(maxsize=128)
def _operators(mask_bytes: bytes, shape: Tuple[int, int, int], w: int,
               dtype: torch.dtype, device: torch.device) -> Optional[SeparableLowPass]:
    masks = torch.frombuffer(bytearray(mask_bytes), dtype=torch.bool).view(shape)
    h = shape[1]
    row_masks, col_masks = masks.any(2), masks.any(1)
    if not torch.equal(masks, row_masks[:, :, None] & col_masks[:, None, :]):
        return None
    row_order, col_order = _kept_order(row_masks), _kept_order(col_masks)
    if row_order is None or col_order is None or min(row_order[1]) == 0:
        return None
    (rows, row_counts), (cols, col_counts) = row_order, col_order
    rows, cols = rows.double(), cols.double()
    height = torch.arange(h, dtype=torch.float64)
    width = torch.arange(w, dtype=torch.float64)
    analysis_h = torch.polar(torch.full((len(rows), h), 1 / math.sqrt(h), dtype=torch.float64),
                             -2 * math.pi * rows[:, None] * height[None] / h)
    angle = 2 * math.pi * cols[:, None] * width[None] / w  # (a_0, w)
    parts = torch.stack([torch.cos(angle), -torch.sin(angle)], 1) / math.sqrt(w)  # (a_0, 2, w)
    # irfft counts every column but DC and Nyquist twice (its Hermitian partner)
    doubled = torch.where((cols == 0) | (2 * cols == w), 1.0, 2.0).to(torch.float64)
    real = torch.float64 if dtype == torch.float64 else torch.float32
    complex_dtype = torch.complex128 if real == torch.float64 else torch.complex64
    factory = dict(device=device)
    return SeparableLowPass(
        rows=row_counts, cols=col_counts,
        analysis_w=parts.reshape(-1, w).t().contiguous().to(real).to(**factory),
        analysis_h=analysis_h.to(complex_dtype).to(**factory),
        synthesis_h=analysis_h.conj().t().contiguous().to(complex_dtype).to(**factory),
        synthesis_w=(parts * doubled[:, None, None]).reshape(-1, w).to(real).to(**factory))


def separable_low_pass(masks: torch.Tensor, w: int, dtype: torch.dtype,
                       device: torch.device) -> Optional[SeparableLowPass]:
    """The separable form of the low-pass masks ``(n, h, w // 2 + 1)`` (bool) for ``(h, w)`` maps
    computed in ``dtype`` on ``device``, cached; None where the masks are not outer products of
    nested row and column masks (then only the FFT form applies)."""
    masks = masks.detach().cpu().contiguous()
    return _operators(masks.numpy().tobytes(), tuple(masks.shape), w, dtype, device)


class SeparableBandModulation(torch.autograd.Function):
    """FBM's band modulation (``band_modulate``) by the separable low-passes: ``x`` ``(B, C, h, w)``
    and maps ``(B, n, G, h, w)`` -> ``(B, C, h, w)``, in x's (float32 or float64) dtype.

    Saves ``x``, the maps and the widest band's kept spectrum (``r_0 x a_0`` per channel, a fraction
    of x); backward re-synthesises the bands from that spectrum for the maps' gradient, and forms
    the input's gradient by the adjoint products.
    """

    @staticmethod
    def forward(ctx, x, maps, operators: SeparableLowPass, lowfreq_att: bool):
        spectrum = operators.spectrum(x)
        out = _modulate(x, maps, operators, spectrum, lowfreq_att)
        ctx.operators, ctx.lowfreq_att = operators, lowfreq_att
        ctx.save_for_backward(x, maps, spectrum)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, maps, spectrum = ctx.saved_tensors
        operators, lowfreq_att = ctx.operators, ctx.lowfreq_att
        batch, channels, h, w = x.shape
        groups = maps.shape[2]
        num_bands = len(operators.rows)
        grad = grad.reshape(batch, groups, -1, h, w)
        grad_maps = torch.empty_like(maps) if ctx.needs_input_grad[1] else None
        band_grads = []
        # d out / d low_i = map_{i+1} - map_i; d out / d map_i = low_{i-1} - low_i (low_{-1} = x)
        factors = _band_factors(maps, num_bands, lowfreq_att).unsqueeze(3)
        prev = (grad * x.reshape(batch, groups, -1, h, w)).sum(2) if grad_maps is not None \
            else None
        for band in range(num_bands):
            if grad_maps is not None:
                low = operators.low(spectrum, band).view(batch, groups, -1, h, w)
                here = (grad * low).sum(2)
                grad_maps[:, band] = prev - here
                prev = here
            band_grads.append((grad * factors[:, band]).reshape(batch, channels, h, w))
        if grad_maps is not None and lowfreq_att:
            grad_maps[:, num_bands] = prev
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = operators.adjoint(band_grads)
            grad_x += (grad * maps[:, 0].unsqueeze(2)).reshape(batch, channels, h, w)
        return grad_x, grad_maps, None, None


def _band_factors(maps: torch.Tensor, num_bands: int, lowfreq_att: bool) -> torch.Tensor:
    """``map_{i+1} - map_i`` for every band i ``(B, n, G, h, w)``: the factor of low-pass i once
    the bands telescope (``map_n`` is 1 without ``lowfreq_att``)."""
    following = maps[:, 1:num_bands + 1]
    if not lowfreq_att:
        following = torch.cat([following, torch.ones_like(maps[:, :1])], 1)
    return following - maps[:, :num_bands]


def _modulate(x, maps, operators, spectrum, lowfreq_att):
    """``sum_i map_i * (low_{i-1} - low_i) + (map_n or 1) * low_{n-1}`` (``low_{-1} = x``) as
    ``map_0 * x + sum_i (map_{i+1} - map_i) * low_i``: one pass over the map per band instead
    of three (the factors are map-sized, ``C / G`` times smaller)."""
    batch, channels, h, w = x.shape
    groups = maps.shape[2]
    factors = _band_factors(maps, len(operators.rows), lowfreq_att).unsqueeze(3)
    out = x.reshape(batch, groups, -1, h, w) * maps[:, 0].unsqueeze(2)
    for band in range(len(operators.rows)):
        low = operators.low(spectrum, band).view_as(out)
        out.addcmul_(low, factors[:, band])
    return out.reshape(batch, channels, h, w)
