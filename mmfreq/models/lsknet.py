"""LSKNet backbone (Large Selective Kernel Network, Li et al., ICCV 2023) with optional FDAM.

Layout and decisions: docs/fdam.md, "LSKNet". Parameter names are those of the published
LSKNet ImageNet backbone (``lsk_s_backbone``), so its ``state_dict`` loads by name::

    patch_embed{i}.proj / .norm                 conv 7x7 stride 4 (stage 1), 3x3 stride 2 after; BN
    block{i}.{j}.norm1                          BN
    block{i}.{j}.attn.proj_1                    1x1 conv, then GELU
    block{i}.{j}.attn.spatial_gating_unit       LSK block: conv0 (dw 5x5), conv_spatial (dw 7x7,
                                                dilation 3), conv1 / conv2 (1x1 to dim/2),
                                                conv_squeeze (7x7, 2 -> 2), conv (1x1 to dim)
    block{i}.{j}.attn.proj_2                    1x1 conv; the attention input is added back
    block{i}.{j}.norm2                          BN
    block{i}.{j}.mlp.fc1 / .dwconv.dwconv / .fc2   1x1, dw 3x3 (then GELU), 1x1
    block{i}.{j}.layer_scale_1 / layer_scale_2  (dim,), init 1e-2
    norm{i}                                     LayerNorm over channels (eps 1e-6)

``i`` counts stages from 1. A block computes, on maps ``(B, C, H, W)``::

    a = attn(norm1(x));  a = FreqScale1(a) + a;  x = x + drop_path(layer_scale_1 * a)
    m = mlp(norm2(x));   m = FreqScale2(m) + m;  x = x + drop_path(layer_scale_2 * m)

The FreqScale steps exist only with ``freq_scale=dict(...)`` (FDAM; modules ``freq_scale_1`` /
``freq_scale_2`` of every block); LSKNet has no softmax attention, so FDAM's AttInv is bypassed.
Without ``freq_scale`` the parameters are exactly those of the published backbone.
"""
import math
from numbers import Real
from typing import Optional, Sequence

import torch
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import nn

from mmrotate.registry import MODELS

from ..layers import FreqScale, FreqScaleBlockMixin, build_freq_scale
from ..layers.fdam_block import DropPath
from ..layers.freq_scale import freq_scale_num_params

NORM_TYPES = ('BN', 'BN2d', 'SyncBN')
SQUEEZE_KERNEL = 7


class LSKSelection(nn.Module):
    """The LSK block (``spatial_gating_unit``): two depth-wise large kernels in sequence, a
    spatial selection between them, and the selected map multiplied with the input.

    ``conv0`` (dw 5x5) gives the first branch, ``conv_spatial`` (dw 7x7, dilation 3) applied to it
    the second; ``conv1`` / ``conv2`` reduce each to ``dim // 2``. Channel mean and max of both
    reduced branches go through ``conv_squeeze`` (7x7, 2 -> 2) and a sigmoid: one spatial weight
    per branch. ``conv`` maps the weighted sum back to ``dim``. Shapes ``(B, dim, H, W)``.
    """

    def __init__(self, dim: int):
        super().__init__()
        half = dim // 2
        self.conv0 = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.conv_spatial = nn.Conv2d(dim, dim, 7, padding=9, dilation=3, groups=dim)
        self.conv1 = nn.Conv2d(dim, half, 1)
        self.conv2 = nn.Conv2d(dim, half, 1)
        self.conv_squeeze = nn.Conv2d(2, 2, SQUEEZE_KERNEL, padding=SQUEEZE_KERNEL // 2)
        self.conv = nn.Conv2d(half, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        small = self.conv0(x)
        large = self.conv_spatial(small)
        small, large = self.conv1(small), self.conv2(large)
        both = torch.cat([small, large], dim=1)
        pooled = torch.cat([both.mean(dim=1, keepdim=True), both.amax(dim=1, keepdim=True)], dim=1)
        select = torch.sigmoid(self.conv_squeeze(pooled))
        selected = small * select[:, :1] + large * select[:, 1:]
        return x * self.conv(selected)


class LSKAttention(nn.Module):
    """``proj_1`` (1x1) -> GELU -> LSK block -> ``proj_2`` (1x1), plus the input as shortcut."""

    def __init__(self, dim: int):
        super().__init__()
        self.proj_1 = nn.Conv2d(dim, dim, 1)
        self.activation = nn.GELU()
        self.spatial_gating_unit = LSKSelection(dim)
        self.proj_2 = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj_2(self.spatial_gating_unit(self.activation(self.proj_1(x))))
        return y + x


class DepthwiseConv(nn.Module):
    """Depth-wise 3x3 conv held as ``.dwconv`` (the published name ``mlp.dwconv.dwconv``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dwconv(x)


class ConvMlp(nn.Module):
    """``fc1`` (1x1) -> ``dwconv`` (dw 3x3) -> GELU -> dropout -> ``fc2`` (1x1) -> dropout."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.):
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden_dim, 1)
        self.dwconv = DepthwiseConv(hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden_dim, dim, 1)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.act(self.dwconv(self.fc1(x))))
        return self.drop(self.fc2(x))


class LSKBlock(FreqScaleBlockMixin, nn.Module):
    """One LSKNet block on ``(B, dim, H, W)`` maps, optionally with FDAM's FreqScale (module
    docstring)."""

    def __init__(self, dim: int, mlp_ratio: float, drop: float = 0., drop_path: float = 0.,
                 norm_cfg: Optional[dict] = None, freq_scale: Optional[dict] = None,
                 layer_scale_init: float = 1e-2):
        super().__init__()
        norm_cfg = norm_cfg or dict(type='BN', requires_grad=True)
        self.norm1 = build_norm_layer(norm_cfg, dim)[1]
        self.attn = LSKAttention(dim)
        self.drop_path = DropPath(drop_path)
        self.norm2 = build_norm_layer(norm_cfg, dim)[1]
        self.mlp = ConvMlp(dim, int(dim * mlp_ratio), drop)
        self.layer_scale_1 = nn.Parameter(torch.full((dim,), float(layer_scale_init)))
        self.layer_scale_2 = nn.Parameter(torch.full((dim,), float(layer_scale_init)))
        self.init_freq_scales(dim, freq_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attn_freq_scale(self.attn(self.norm1(x)))
        x = x + self.drop_path(self.layer_scale_1[:, None, None] * a)
        m = self.mlp_freq_scale(self.mlp(self.norm2(x)))
        return x + self.drop_path(self.layer_scale_2[:, None, None] * m)


class OverlapPatchEmbed(nn.Module):
    """``proj`` conv (kernel ``k``, stride ``s``, padding ``k // 2``) then ``norm`` (BN)."""

    def __init__(self, in_channels: int, dim: int, kernel_size: int, stride: int,
                 norm_cfg: dict):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size, stride=stride,
                              padding=kernel_size // 2)
        self.norm = build_norm_layer(norm_cfg, dim)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_per_stage(name: str, values, num_stages: int, kind: str) -> tuple:
    if not isinstance(values, (list, tuple)) or len(values) != num_stages:
        raise ValueError(f'{name} must be a list of {num_stages} values (one per stage, as many '
                         f'as embed_dims), got {values!r}')
    for value in values:
        ok = (_is_int(value) and value >= 1) if kind == 'int' else \
            (isinstance(value, Real) and not isinstance(value, bool) and value > 0)
        if not ok:
            wanted = 'positive ints' if kind == 'int' else 'numbers > 0'
            raise ValueError(f'{name} must hold {wanted}, got {values!r}')
    return tuple(values)


def _check_norm_cfg(norm_cfg) -> dict:
    if not isinstance(norm_cfg, dict) or norm_cfg.get('type') not in NORM_TYPES:
        raise ValueError(f'norm_cfg must be a dict with type in {NORM_TYPES} (LSKNet normalises '
                         f'(B, C, H, W) maps with batch norm), got {norm_cfg!r}')
    return dict(norm_cfg)


def _check_init_cfg(init_cfg) -> None:
    if init_cfg is None:
        return
    if not isinstance(init_cfg, dict) or 'type' not in init_cfg:
        raise ValueError("init_cfg must be None or a dict such as dict(type='Pretrained', "
                         f"checkpoint=PATH), got {init_cfg!r}")
    if init_cfg['type'] == 'Pretrained' and not init_cfg.get('checkpoint'):
        raise ValueError(f"init_cfg of type 'Pretrained' needs a checkpoint path, got {init_cfg!r}")


@MODELS.register_module()
class LSKNet(BaseModule):
    """LSKNet backbone; returns the maps of the stages in ``out_indices`` (see module docstring).

    Args:
        embed_dims: channels per stage; LSKNet-S ``(64, 128, 320, 512)``.
        depths: blocks per stage; LSKNet-S ``(2, 2, 4, 2)``.
        mlp_ratios: MLP hidden width ratio per stage; LSKNet-S ``(8, 8, 4, 4)``.
        drop_path_rate: stochastic depth, rising linearly from 0 to this value over all blocks.
        drop_rate: dropout inside the MLPs.
        out_indices: stages (0-based) whose maps are returned, strides 4, 8, 16, 32.
            Stages after the last one listed are built (so checkpoints load) but not run.
        in_channels: image channels.
        norm_cfg: norm of the patch embeddings and blocks, type in ``NORM_TYPES``.
        freq_scale: None (plain LSKNet) or the options of :class:`~mmfreq.layers.FreqScale`
            (``mode, num_filters, groups, size, reweight_ratio, init_scale``) for FDAM's
            ``freq_scale_1`` / ``freq_scale_2`` in every block.
        init_cfg: None (our default init) or ``dict(type='Pretrained', checkpoint=PATH)`` to load
            the published ImageNet backbone by name (its classifier ``head`` is ignored; FreqScale
            modules, absent from it, keep their init).

    Shapes: input ``(B, in_channels, H, W)``; output ``i`` is ``(B, embed_dims[i], H_i, W_i)``
    with ``H_1 = ceil(H / 4)`` and each later stage halving (rounding up).
    """

    def __init__(self, embed_dims: Sequence[int] = (64, 128, 320, 512),
                 depths: Sequence[int] = (2, 2, 4, 2),
                 mlp_ratios: Sequence[float] = (8, 8, 4, 4),
                 drop_path_rate: float = 0.1, drop_rate: float = 0.,
                 out_indices: Sequence[int] = (0, 1, 2, 3), in_channels: int = 3,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 freq_scale: Optional[dict] = None, init_cfg: Optional[dict] = None):
        _check_init_cfg(init_cfg)
        super().__init__(init_cfg=init_cfg)
        if not isinstance(embed_dims, (list, tuple)) or not embed_dims:
            raise ValueError(f'embed_dims must be a non-empty list of positive ints, '
                             f'got {embed_dims!r}')
        num_stages = len(embed_dims)
        embed_dims = _check_per_stage('embed_dims', embed_dims, num_stages, 'int')
        for dim in embed_dims:
            if dim < 2:
                raise ValueError(f'embed_dims must be >= 2 (the LSK block halves them), '
                                 f'got {embed_dims!r}')
        depths = _check_per_stage('depths', depths, num_stages, 'int')
        mlp_ratios = _check_per_stage('mlp_ratios', mlp_ratios, num_stages, 'number')
        for name, rate in (('drop_path_rate', drop_path_rate), ('drop_rate', drop_rate)):
            if not isinstance(rate, Real) or isinstance(rate, bool) or not 0 <= rate < 1:
                raise ValueError(f'{name} must be a number in [0, 1), got {rate!r}')
        if (not isinstance(out_indices, (list, tuple)) or not out_indices
                or len(set(out_indices)) != len(out_indices)
                or not all(_is_int(i) and 0 <= i < num_stages for i in out_indices)):
            raise ValueError(f'out_indices must be distinct stage indices in '
                             f'{list(range(num_stages))}, got {out_indices!r}')
        if not _is_int(in_channels) or in_channels < 1:
            raise ValueError(f'in_channels must be a positive int, got {in_channels!r}')
        norm_cfg = _check_norm_cfg(norm_cfg)
        for i, dim in enumerate(embed_dims):
            try:
                build_freq_scale(dim, freq_scale)
            except ValueError as err:
                raise ValueError(f'freq_scale={freq_scale!r} does not fit the stage with '
                                 f'embed_dims[{i}]={dim}: {err}') from None

        self.embed_dims = embed_dims
        self.depths = depths
        self.out_indices = tuple(out_indices)
        self.num_stages = num_stages
        self.with_freq_scale = freq_scale is not None
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        channels, first = in_channels, 0
        for i, (dim, depth, ratio) in enumerate(zip(embed_dims, depths, mlp_ratios), start=1):
            kernel, stride = (7, 4) if i == 1 else (3, 2)
            setattr(self, f'patch_embed{i}',
                    OverlapPatchEmbed(channels, dim, kernel, stride, norm_cfg))
            blocks = nn.ModuleList(
                LSKBlock(dim, ratio, drop_rate, rates[first + j], norm_cfg, freq_scale)
                for j in range(depth))
            setattr(self, f'block{i}', blocks)
            setattr(self, f'norm{i}', nn.LayerNorm(dim, eps=1e-6))
            channels, first = dim, first + depth
        self._default_init()

    def _default_init(self) -> None:
        """Convs ~ N(0, 2 / fan_out) with zero bias, norms weight 1 / bias 0; FreqScale keeps its
        own init (:class:`~mmfreq.layers.FreqScale`); layer scales stay at 1e-2."""
        skip = {id(m) for fs in self.modules() if isinstance(fs, FreqScale)
                for m in fs.modules()}
        for module in self.modules():
            if id(module) in skip:
                continue
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0, math.sqrt(2.0 / (fan_out // module.groups)))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.LayerNorm, nn.modules.batchnorm._BatchNorm)):
                if module.weight is not None:
                    nn.init.ones_(module.weight)
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> tuple:
        outs = []
        for i in range(1, max(self.out_indices) + 2):
            x = getattr(self, f'patch_embed{i}')(x)
            for block in getattr(self, f'block{i}'):
                x = block(x)
            # LayerNorm over channels at every position (the published norm on tokens)
            x = getattr(self, f'norm{i}')(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            x = x.contiguous()
            if i - 1 in self.out_indices:
                outs.append(x)
        return tuple(outs)


def lsknet_num_params(embed_dims: Sequence[int] = (64, 128, 320, 512),
                      depths: Sequence[int] = (2, 2, 4, 2),
                      mlp_ratios: Sequence[float] = (8, 8, 4, 4), in_channels: int = 3,
                      freq_scale: Optional[dict] = None) -> int:
    """Closed-form parameter count of :class:`LSKNet` (BN norms, all stages), from the layer list.

    Per block of width d with MLP width h = int(d * mlp_ratio) and d2 = d // 2:
    norms 4d; proj_1, proj_2 2(d² + d); conv0 26d; conv_spatial 50d; conv1, conv2 2(d·d2 + d2);
    conv_squeeze 2·2·49 + 2; conv d2·d + d; fc1 d·h + h; dwconv 10h; fc2 h·d + d; layer scales
    2d; plus 2 FreqScale (:func:`~mmfreq.layers.freq_scale.freq_scale_num_params`) with FDAM.
    Per stage: patch_embed k²·c_in·d + d + 2d (k = 7, then 3) and norm 2d.
    """
    fs_options = {k: v for k, v in (freq_scale or {}).items() if k != 'init_scale'}
    total, channels = 0, in_channels
    for i, (d, depth, ratio) in enumerate(zip(embed_dims, depths, mlp_ratios)):
        kernel = 7 if i == 0 else 3
        total += kernel * kernel * channels * d + 3 * d + 2 * d
        h, d2 = int(d * ratio), d // 2
        block = (4 * d + 2 * (d * d + d) + 26 * d + 50 * d + 2 * (d * d2 + d2)
                 + (2 * 2 * SQUEEZE_KERNEL ** 2 + 2) + (d2 * d + d)
                 + (d * h + h) + 10 * h + (h * d + d) + 2 * d)
        if freq_scale is not None:
            block += 2 * freq_scale_num_params(d, **fs_options)
        total += depth * block
        channels = d
    return total
