"""FreqScale: frequency-dynamic scaling of a feature map (FDAM, Chen et al., ICCV 2025).

FreqScale is the second half of Frequency-Dynamic Attention Modulation (supplementary sections E,
H; docs/fdam.md). A transformer block uses it residually after its attention and MLP branches,
``z = FreqScale(z) + z`` on the branch output laid out as a map ``(B, C, H, W)``::

    Z       = rfft2(z, norm='ortho')                      # (B, C, H, W//2+1), complex
    weight  = per-sample real frequency weight            # (B, C, H, W//2+1)
    FreqScale(z) = irfft2(Z * weight, s=(H, W), norm='ortho')

The three forms of the ablation (supplementary Table 1) differ only in how ``weight`` is made from
the stored bases ``complex_weights`` (real-valued despite the release's name) of spatial size
``(size, size//2 + 1)``, the rfft2 layout of a ``size x size`` map (row 0 / column 0 = DC):

* ``'static'``: one real weight per channel, ``complex_weights`` ``(dim, size, size//2+1)``,
  no routing; the same weight for every sample.
* ``'dynamic'``: ``num_filters`` full-channel bases ``(n, dim, size, size//2+1)`` mixed per sample
  by ``r = tanh(reweight(mean_HW(z)))`` of shape ``(B, n)``: ``weight[b] = sum_n r[b, n] W[n]``.
  It is the ``groups == 1`` case of the group form.
* ``'group'`` (the release's ``GroupDynamicScale``, FDAM's default): ``n`` bases of ``dim // g``
  channels ``(n, dim//g, size, size//2+1)``; ``r`` has shape ``(B, g, n)`` and channel group ``j``
  (channels ``j*dim//g ... (j+1)*dim//g - 1``) gets ``sum_n r[b, j, n] W[n]``.

``reweight`` is the release's MLP ``fc1`` (Linear dim -> int(dim * reweight_ratio), no bias),
``act`` (StarReLU), ``fc2`` (Linear -> g * n, no bias).

When the feature's spectrum ``(H, W//2+1)`` differs from ``(size, size//2+1)`` the bases are resized
bicubically with ``align_corners=True`` (resizing is linear, so resizing the bases and then mixing
equals mixing then resizing, as the release does; resizing the bases is cheaper).

Initialisation (our decision, stated so it can be relied on): ``complex_weights`` ~ trunc-normal,
mean 0, std ``init_scale`` (1e-5, the release's value), truncated at +-2 std; ``init_scale=0`` gives
exact zeros. Both ``reweight`` Linears ~ trunc-normal std 0.02 (truncated at +-2 std), StarReLU
scale 1 / bias 0. Since the output is linear in the weight, FreqScale with zero ``complex_weights``
is exactly the zero map in every mode, and at the default init every frequency weight is at most
about ``2 * init_scale * n`` in magnitude (bases within +-2 std, ``|r| < 1``; bicubic resizing can
overshoot slightly), so the residual block ``z = FreqScale(z) + z`` starts as the identity to within
~1e-4 relative.

All Fourier transforms run in float32 with autocast disabled; the output has the input's dtype.
"""
import functools
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .layer_inputs import autocast_off, check_channels, empty_batch_output
from .star_relu import StarReLU
from .torch_support import is_compiling

FREQ_SCALE_MODES = ('static', 'dynamic', 'group')


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be a positive int, got {value!r}')


def spectrum_size(height: int, width: int) -> Tuple[int, int]:
    """Spatial size ``(H, W//2 + 1)`` of ``rfft2`` of an ``H x W`` map."""
    return height, width // 2 + 1


def reweight_hidden_dim(dim: int, reweight_ratio: float) -> int:
    """Hidden width of the routing MLP: ``int(dim * reweight_ratio)`` (release rule)."""
    return int(dim * reweight_ratio)


def freq_scale_num_params(dim: int, mode: str = 'group', num_filters: int = 4, groups: int = 16,
                          size: int = 14, reweight_ratio: float = 0.0625) -> int:
    """Closed-form parameter count of one :class:`FreqScale`.

    With ``S = size * (size//2 + 1)``, ``h = int(dim * reweight_ratio)``, ``n = num_filters``,
    ``g = groups``:

    * static:  ``dim * S``
    * dynamic: ``dim*h + 2 + h*n + n*dim*S``           (fc1, StarReLU, fc2, bases)
    * group:   ``dim*h + 2 + h*g*n + n*(dim//g)*S``
    """
    n_freq = size * (size // 2 + 1)
    if mode == 'static':
        return dim * n_freq
    hidden = reweight_hidden_dim(dim, reweight_ratio)
    num_groups = 1 if mode == 'dynamic' else groups
    routing = dim * hidden + 2 + hidden * num_groups * num_filters
    return routing + num_filters * (dim // num_groups) * n_freq


def mix_frequency_bases(routing: torch.Tensor, bases: torch.Tensor) -> torch.Tensor:
    """Per-sample frequency weight from grouped bases.

    Args:
        routing: ``(B, g, n)`` mixing coefficients.
        bases: ``(n, c, h, w)`` real frequency bases shared by the ``g`` groups.

    Returns:
        ``(B, g * c, h, w)``: channel ``j * c + k`` is ``sum_n routing[b, j, n] * bases[n, k]``.
    """
    batch, num_groups, num_bases = routing.shape
    _, channels, height, width = bases.shape
    # one (B*g, n) @ (n, c*h*w) matmul; its output is already in (B, g*c, h, w) order
    weight = routing.reshape(batch * num_groups, num_bases) @ bases.reshape(num_bases, -1)
    return weight.view(batch, num_groups * channels, height, width)


def bicubic_resize_matrix(size_in: int, size_out: int, device=None,
                          dtype=torch.float32) -> torch.Tensor:
    """``(size_out, size_in)`` matrix of a 1-D bicubic (``align_corners=True``) resize.

    Bicubic resizing is separable: resizing an ``h x w`` map to ``H x W`` is ``R_h @ map @ R_w^T``.
    The matrix is ``F.interpolate`` of the identity, so it holds exactly torch's weights (border
    clamping included).
    """
    eye = torch.eye(size_in, device=device, dtype=dtype).view(1, size_in, size_in, 1)
    resized = F.interpolate(eye, size=(size_out, 1), mode='bicubic', align_corners=True)
    return resized.view(size_in, size_out).t()


@functools.lru_cache(maxsize=64)
def resize_matrix(size_in: int, size_out: int, device: torch.device,
                  dtype: torch.dtype) -> torch.Tensor:
    """:func:`bicubic_resize_matrix`, cached per size, device and dtype (it depends on nothing
    else, so it never goes stale). Built outside inference mode, so that it can be used anywhere."""
    with torch.inference_mode(False), torch.no_grad():
        return bicubic_resize_matrix(size_in, size_out, device, dtype)


def resize_frequency_weight(weight: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bicubic (``align_corners=True``) resize of ``(..., h, w)`` real weights to ``size``.

    Returned unchanged when the size already matches (except under torch.compile / torch.export,
    where that test would tie the program to the size; resizing to the same size is the
    identity). Leading dims are flattened for the resize. When no gradient is recorded for
    ``weight`` (inference), computed as two products with cached :func:`resize_matrix` matrices:
    the same values up to float rounding at a fraction of ``F.interpolate``'s CPU time; otherwise
    (training, torch.compile / torch.export) by ``F.interpolate`` itself.
    """
    compiling = is_compiling()
    if not compiling and tuple(weight.shape[-2:]) == tuple(size):
        return weight
    *lead, height, width = weight.shape
    out_height, out_width = size
    if not compiling and not (torch.is_grad_enabled() and weight.requires_grad):
        rows = resize_matrix(height, out_height, weight.device, weight.dtype)
        cols = resize_matrix(width, out_width, weight.device, weight.dtype)
        resized = weight.reshape(-1, width) @ cols.t()                   # (lead * h, W)
        resized = rows @ resized.view(-1, height, out_width)             # (lead, H, W)
        return resized.view(*lead, out_height, out_width)
    flat = weight.reshape(1, -1, height, width)
    flat = F.interpolate(flat, size=size, mode='bicubic', align_corners=True)
    return flat.reshape(*lead, out_height, out_width)


def scale_spectrum(feature: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``irfft2(rfft2(feature, ortho) * weight, s=(H, W), ortho)`` in float32.

    Args:
        feature: ``(B, C, H, W)``, any float dtype.
        weight: real, broadcastable to ``(B, C, H, W//2 + 1)``.

    Returns:
        ``(B, C, H, W)`` float32 (autocast is disabled inside).
    """
    height, width = feature.shape[-2:]
    with autocast_off(feature.device):
        spectrum = torch.fft.rfft2(feature.float(), norm='ortho')
        # complex times real, without a complex copy of the weight (several times faster on the
        # CPU than broadcasting the weight over (re, im) pairs); in place when autograd is off
        weight = weight.float()
        spectrum = spectrum * weight if torch.is_grad_enabled() else spectrum.mul_(weight)
        return torch.fft.irfft2(spectrum, s=(height, width), norm='ortho')


def is_channels_last_map(x: torch.Tensor) -> bool:
    """Whether each sample of ``x`` ``(B, C, H, W)`` is stored ``(H, W, C)`` (channels last), as
    transformer tokens ``(B, H*W, C)`` viewed as a map are."""
    _, channels, _, width = x.shape
    return channels > 1 and x.stride(1) == 1 and x.stride(3) == channels \
        and x.stride(2) == width * channels


def channels_last_to_contiguous(x: torch.Tensor) -> torch.Tensor:
    """Contiguous copy of a channels-last map ``(B, C, H, W)`` through one 2-D transpose (on the
    CPU torch transposes 2-D tensors much faster than it permutes 4-D ones)."""
    batch, channels, height, width = x.shape
    pixels = x.permute(2, 3, 0, 1).reshape(height * width, batch * channels)  # a view if B == 1
    return pixels.t().contiguous().view(batch, channels, height, width)


def contiguous_to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """A contiguous map ``(B, C, H, W)`` stored pixel by pixel (each pixel's ``B x C`` values
    together) through one 2-D transpose, so that its tokens ``(B, H*W, C)`` are rows."""
    batch, channels, height, width = x.shape
    pixels = x.view(batch * channels, height * width).t().contiguous()
    return pixels.view(height, width, batch, channels).permute(2, 3, 0, 1)


class _ReweightMLP(nn.Module):
    """Routing MLP of the release: ``fc1`` -> ``act`` (StarReLU) -> ``fc2``, no biases."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int, device=None,
                 dtype=None):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.fc1 = nn.Linear(in_features, hidden_features, bias=False, **factory)
        self.act = StarReLU(**factory)
        self.fc2 = nn.Linear(hidden_features, out_features, bias=False, **factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def _trunc_normal_two_sigma_(tensor: torch.Tensor, std: float) -> torch.Tensor:
    if std == 0:
        return nn.init.zeros_(tensor)
    return nn.init.trunc_normal_(tensor, mean=0.0, std=std, a=-2 * std, b=2 * std)


class FreqScale(nn.Module):
    """Frequency-dynamic scaling of FDAM (see the module docstring for the math and init).

    Args:
        dim: channels C of the input map.
        mode: ``'static'``, ``'dynamic'`` or ``'group'`` (default, the release's GroupDynamicScale).
        num_filters: n, number of frequency bases (``dynamic`` and ``group``).
        groups: g, channel groups with their own routing (``group`` only; must divide ``dim``).
        size: spatial size of the stored bases, ``(size, size//2 + 1)``; 14 in the release.
        reweight_ratio: hidden width ratio of the routing MLP (``dynamic`` and ``group``).
        init_scale: std of the trunc-normal init of ``complex_weights`` (0 gives zeros).

    Shapes: input ``(B, C, H, W)`` (or unbatched ``(C, H, W)``) of any ``H, W >= 1`` (never a
    class token); output the same shape and dtype. Returns ``FreqScale(z)`` only; the caller adds the residual.
    """

    def __init__(self, dim: int, mode: str = 'group', num_filters: int = 4, groups: int = 16,
                 size: int = 14, reweight_ratio: float = 0.0625, init_scale: float = 1e-5,
                 device=None, dtype=None):
        super().__init__()
        _check_positive_int('dim', dim)
        if mode not in FREQ_SCALE_MODES:
            raise ValueError(f'mode must be one of {FREQ_SCALE_MODES}, got {mode!r}')
        _check_positive_int('num_filters', num_filters)
        _check_positive_int('groups', groups)
        _check_positive_int('size', size)
        if mode == 'group' and dim % groups != 0:
            raise ValueError(f'groups must divide dim in mode "group": dim={dim}, groups={groups}')
        if not isinstance(init_scale, (int, float)) or isinstance(init_scale, bool) \
                or init_scale < 0:
            raise ValueError(f'init_scale must be a number >= 0, got {init_scale!r}')
        if mode != 'static':
            if not isinstance(reweight_ratio, (int, float)) or isinstance(reweight_ratio, bool) \
                    or reweight_ratio <= 0 or reweight_hidden_dim(dim, reweight_ratio) < 1:
                raise ValueError(
                    f'reweight_ratio must be > 0 with int(dim * reweight_ratio) >= 1, got '
                    f'reweight_ratio={reweight_ratio!r} for dim={dim}')

        self.dim = dim
        self.mode = mode
        self.size = size
        self.num_filters = 1 if mode == 'static' else num_filters
        self.groups = groups if mode == 'group' else 1
        freq_shape = spectrum_size(size, size)
        factory = dict(device=device, dtype=dtype)
        if mode == 'static':
            self.complex_weights = nn.Parameter(torch.empty(dim, *freq_shape, **factory))
        else:
            self.reweight = _ReweightMLP(dim, reweight_hidden_dim(dim, reweight_ratio),
                                         self.groups * self.num_filters, **factory)
            self.complex_weights = nn.Parameter(
                torch.empty(self.num_filters, dim // self.groups, *freq_shape, **factory))
        self.init_scale = float(init_scale)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _trunc_normal_two_sigma_(self.complex_weights, self.init_scale)
        if self.mode != 'static':
            for linear in (self.reweight.fc1, self.reweight.fc2):
                _trunc_normal_two_sigma_(linear.weight, 0.02)
            self.reweight.act.reset_parameters()

    def extra_repr(self) -> str:
        return (f'dim={self.dim}, mode={self.mode!r}, num_filters={self.num_filters}, '
                f'groups={self.groups}, size={self.size}')

    def routing(self, x: torch.Tensor) -> torch.Tensor:
        """``tanh(reweight(mean over H, W))`` viewed ``(B, g, n)``; x is ``(B, C, H, W)``."""
        pooled = x.mean(dim=(2, 3))
        return torch.tanh(self.reweight(pooled)).view(x.shape[0], self.groups, self.num_filters)

    def frequency_weight(self, x: torch.Tensor) -> torch.Tensor:
        """Real frequency weight for ``x`` ``(B, C, H, W)``, float32: ``(B or 1, C, H, W//2+1)``."""
        target = spectrum_size(*x.shape[-2:])
        with autocast_off(x.device):
            bases = resize_frequency_weight(self.complex_weights.float(), target)
            if self.mode == 'static':
                return bases.unsqueeze(0)
        routing = self.routing(x)
        with autocast_off(x.device):
            return mix_frequency_bases(routing.float(), bases)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # unbatched (C, H, W)
            return self.forward(x.unsqueeze(0)).squeeze(0)
        if x.dim() != 4:
            raise ValueError(f'FreqScale expected a (B, C, H, W) or (C, H, W) input, got '
                             f'input{list(x.shape)}')
        check_channels('FreqScale', x, self.dim, dim=1)
        if x.shape[0] == 0:
            return empty_batch_output(self, x, x.shape)
        # inference on tokens viewed as a map: transpose in and out explicitly (the FFT of a
        # strided map, and the caller's add of a channels-first result to its tokens, are far
        # slower on the CPU); with autograd on, the computation stays that of a plain map
        weight = self.frequency_weight(x)
        if not torch.is_grad_enabled() and not is_compiling() \
                and is_channels_last_map(x):
            out = scale_spectrum(channels_last_to_contiguous(x), weight)
            return contiguous_to_channels_last(out).to(x.dtype)
        return scale_spectrum(x, weight).to(x.dtype)
