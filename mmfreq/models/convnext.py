"""ConvNeXt backbone for mmdet (Liu et al., "A ConvNet for the 2020s", CVPR 2022), optionally with
FDLinear (FDConv on tokens, Chen et al., CVPR 2025) as the two MLP linears of every block.

mmdet's own ConvNeXt configs use mmpretrain, which cannot be installed here; this one is written
from the paper. Parameter names are those of the official ImageNet checkpoints, so their weights
load by name (``'model'`` / ``'state_dict'`` containers both work)::

    downsample_layers.0.0 / .0.1      stem: Conv2d(3, d0, 4, stride 4), LayerNorm (channels first)
    downsample_layers.i.0 / .i.1      i = 1..3: LayerNorm (channels first), Conv2d(d, d', 2, s 2)
    stages.i.j.dwconv                 depth-wise Conv2d(d, d, 7, padding 3)
    stages.i.j.norm                   LayerNorm over channels (channels last), eps 1e-6
    stages.i.j.pwconv1 / .pwconv2     Linear(d, 4d), GELU, Linear(4d, d)  (or FDLinear)
    stages.i.j.gamma                  layer scale (d,), init layer_scale_init_value
    norm{i}                           LayerNorm (channels first) on each output of out_indices

A block computes ``x + drop_path(gamma * pwconv2(gelu(pwconv1(norm(dwconv(x))))))``, the MLP on
``(B, H, W, C)`` tokens. The ImageNet head (``norm``, ``head``) is not part of the backbone; those
keys are ignored when a classification checkpoint is loaded.

With ``fdlinear_cfg=dict(kernel_num=64, ...)`` (FDConv's release options), ``pwconv1`` / ``pwconv2``
are :class:`~mmfreq.layers.FDLinear` (``dft_weight`` + ``KSM_Global`` / ``KSM_Local`` in place of
``weight``); the ImageNet checkpoint is converted with
``tools/convert_to_fdconv.py --model-type convnext`` first.
"""
from collections import OrderedDict
from numbers import Real
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.runner import CheckpointLoader
from torch import nn

from mmdet.registry import MODELS

from ..layers import FDLinear
from .checkpoint_conversion import extract_state_dict, strip_prefix
from .pretrained import load_state_dict_with_report

__all__ = ['ConvNeXt', 'ConvNeXtBlock', 'LayerNorm2d', 'CONVNEXT_ARCHS']

#: depths and widths of the published ConvNeXt sizes
CONVNEXT_ARCHS: Dict[str, dict] = {
    'tiny': dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
    'small': dict(depths=(3, 3, 27, 3), dims=(96, 192, 384, 768)),
    'base': dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024)),
    'large': dict(depths=(3, 3, 27, 3), dims=(192, 384, 768, 1536)),
    'xlarge': dict(depths=(3, 3, 27, 3), dims=(256, 512, 1024, 2048)),
}
#: keys of an ImageNet classification checkpoint that the detection backbone does not have
CLASSIFIER_KEYS = ('norm.weight', 'norm.bias', 'head.weight', 'head.bias')


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a ``(B, C, H, W)`` map (parameters ``weight`` / ``bias``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """One ConvNeXt block on ``(B, C, H, W)``; the MLP linears are FDLinear when ``fdlinear_cfg``
    is a dict of FDConv options."""

    def __init__(self, dim: int, drop_path: float = 0., layer_scale_init_value: float = 1e-6,
                 mlp_ratio: float = 4., fdlinear_cfg: Optional[dict] = None,
                 with_cp: bool = False):
        super().__init__()
        hidden = int(mlp_ratio * dim)
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        if fdlinear_cfg is None:
            self.pwconv1 = nn.Linear(dim, hidden)
            self.pwconv2 = nn.Linear(hidden, dim)
        else:
            self.pwconv1 = FDLinear(dim, hidden, **fdlinear_cfg)
            self.pwconv2 = FDLinear(hidden, dim, **fdlinear_cfg)
        self.act = nn.GELU()
        self.gamma = (nn.Parameter(torch.full((dim,), float(layer_scale_init_value)))
                      if layer_scale_init_value > 0 else None)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.with_cp = with_cp

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dwconv(x).permute(0, 2, 3, 1)  # (B, H, W, C) tokens
        x = self.pwconv2(self.act(self.pwconv1(self.norm(x))))
        if self.gamma is not None:
            x = x * self.gamma
        return x.permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            residual = cp.checkpoint(self._residual, x, use_reentrant=False)
        else:
            residual = self._residual(x)
        return x + self.drop_path(residual)


def _check_int_list(name: str, value, length: int, minimum: int) -> tuple:
    if (isinstance(value, (str, bytes)) or not hasattr(value, '__len__') or len(value) != length
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum
                       for v in value)):
        raise ValueError(f'{name} must be a list of {length} ints >= {minimum}, got {value!r}')
    return tuple(value)


@MODELS.register_module()
class ConvNeXt(BaseModule):
    """ConvNeXt for dense prediction (multi-scale outputs with per-output LayerNorm ``norm{i}``).

    Args:
        arch: one of ``CONVNEXT_ARCHS`` ('tiny', 'small', 'base', 'large', 'xlarge'), or None
            with ``depths`` and ``dims`` given.
        depths, dims: blocks and channels of the 4 stages (override ``arch``).
        in_channels: image channels.
        out_indices: stages whose outputs are returned, each normalised by ``norm{i}``.
        drop_path_rate: stochastic depth, increasing linearly over all blocks from 0.
        layer_scale_init_value: init of ``gamma``; 0 disables layer scale.
        fdlinear_cfg: None (plain ``nn.Linear`` MLPs) or FDConv's release options for
            :class:`~mmfreq.layers.FDLinear` MLPs, e.g. ``dict(kernel_num=64)``.
        frozen_stages: stem and stages ``0..frozen_stages`` frozen (eval mode, no grad); -1: none.
        need_grad_list: with ``frozen_stages``, parameters whose name contains one of these stay
            trainable (FDConv release: ``['KSM', 'FBM']``).
        with_cp: gradient checkpointing of every block (saves memory, costs a recompute).
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=None)`` loads an official
            ConvNeXt checkpoint (or, with ``prefix='backbone.'``, a detector's); None: the
            official init (truncated normal, std 0.02, zero biases).
    """

    def __init__(self, arch: Optional[str] = 'tiny', depths: Optional[Sequence[int]] = None,
                 dims: Optional[Sequence[int]] = None, in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3), drop_path_rate: float = 0.,
                 layer_scale_init_value: float = 1e-6, fdlinear_cfg: Optional[dict] = None,
                 frozen_stages: int = -1, need_grad_list: Sequence[str] = (),
                 with_cp: bool = False, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if arch is not None and arch not in CONVNEXT_ARCHS:
            raise ValueError(f'arch must be one of {sorted(CONVNEXT_ARCHS)} or None, got {arch!r}')
        base = CONVNEXT_ARCHS[arch] if arch is not None else {}
        depths = base.get('depths') if depths is None else depths
        dims = base.get('dims') if dims is None else dims
        if depths is None or dims is None:
            raise ValueError('with arch=None, depths and dims must both be given')
        self.depths = _check_int_list('depths', depths, 4, 1)
        self.dims = _check_int_list('dims', dims, 4, 1)
        if (isinstance(out_indices, (str, bytes)) or not hasattr(out_indices, '__iter__')
                or not list(out_indices)
                or not all(isinstance(i, int) and 0 <= i <= 3 for i in out_indices)):
            raise ValueError(f'out_indices must be a non-empty list of stage indices in [0, 3], '
                             f'got {out_indices!r}')
        if not (isinstance(drop_path_rate, Real) and 0 <= drop_path_rate < 1):
            raise ValueError(f'drop_path_rate must be in [0, 1), got {drop_path_rate!r}')
        if not (isinstance(layer_scale_init_value, Real) and layer_scale_init_value >= 0):
            raise ValueError(f'layer_scale_init_value must be >= 0, got {layer_scale_init_value!r}')
        if fdlinear_cfg is not None and not isinstance(fdlinear_cfg, dict):
            raise ValueError(f'fdlinear_cfg must be None or a dict of FDConv options, '
                             f'got {fdlinear_cfg!r}')
        if not (isinstance(frozen_stages, int) and -1 <= frozen_stages <= 3):
            raise ValueError(f'frozen_stages must be an int in [-1, 3], got {frozen_stages!r}')
        if isinstance(need_grad_list, str) or not all(isinstance(n, str) for n in need_grad_list):
            raise ValueError(f'need_grad_list must be a list of strings, got {need_grad_list!r}')
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f'in_channels must be a positive int, got {in_channels!r}')
        fdlinear_cfg = None if fdlinear_cfg is None else dict(fdlinear_cfg)
        if fdlinear_cfg is not None:
            fdlinear_cfg.pop('type', None)  # allow dict(type='FDLinear', ...)
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.need_grad_list = tuple(need_grad_list)
        self.fdlinear_cfg = fdlinear_cfg

        self.downsample_layers = nn.ModuleList()
        self.downsample_layers.append(nn.Sequential(
            nn.Conv2d(in_channels, self.dims[0], 4, stride=4), LayerNorm2d(self.dims[0], eps=1e-6)))
        for i in range(1, 4):
            self.downsample_layers.append(nn.Sequential(
                LayerNorm2d(self.dims[i - 1], eps=1e-6),
                nn.Conv2d(self.dims[i - 1], self.dims[i], 2, stride=2)))
        rates = torch.linspace(0, drop_path_rate, sum(self.depths)).tolist()
        self.stages = nn.ModuleList()
        start = 0
        for i in range(4):
            self.stages.append(nn.Sequential(*[
                ConvNeXtBlock(self.dims[i], rates[start + j], layer_scale_init_value,
                              fdlinear_cfg=fdlinear_cfg, with_cp=with_cp)
                for j in range(self.depths[i])]))
            start += self.depths[i]
        for i in self.out_indices:
            self.add_module(f'norm{i}', LayerNorm2d(self.dims[i], eps=1e-6))
        self._official_init()
        self._freeze_stages()

    # ------------------------------------------------------------------ init and loading
    def _official_init(self) -> None:
        """Truncated normal (std 0.02) conv / linear weights, zero biases; an FDLinear gets the
        ``dft_weight`` of such a weight (its KSM keeps the FDConv init)."""
        fd_layers = [m for m in self.modules() if isinstance(m, FDLinear) and m.is_fdconv]
        inside_fd = {id(sub) for m in fd_layers for sub in m.modules() if sub is not m}
        for module in self.modules():
            if id(module) in inside_fd:
                continue
            if isinstance(module, FDLinear) and module.is_fdconv:
                module.init_dense_weight_(lambda weight: nn.init.trunc_normal_(weight, std=.02))
            elif isinstance(module, (nn.Conv2d, nn.Linear)) and 'weight' in module._parameters:
                nn.init.trunc_normal_(module.weight, std=.02)
            else:
                continue
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def init_weights(self) -> None:
        """Official init, or the ``Pretrained`` checkpoint of ``init_cfg`` (loaded by name,
        ``strict=False``; missing and unexpected keys are logged)."""
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            super().init_weights()
            return
        logger = MMLogger.get_current_instance()
        checkpoint = CheckpointLoader.load_checkpoint(cfg['checkpoint'], map_location='cpu',
                                                      logger=logger)
        state_dict = extract_state_dict(checkpoint)
        if cfg.get('prefix'):
            state_dict = strip_prefix(state_dict, cfg['prefix'])
        self.load_pretrained_state_dict(state_dict, logger)
        self._is_init = True

    def load_pretrained_state_dict(self, state_dict, logger=None) -> dict:
        """Load an official ConvNeXt state dict by name (``strict=False``); returns the
        ``missing`` / ``unexpected`` keys (classifier keys are not reported). Dense MLP weights
        for FDLinear layers are refused: convert the checkpoint first."""
        own = self.state_dict()
        dense_for_fd = [k for k in state_dict if k.endswith('.weight')
                        and k[:-len('weight')] + 'dft_weight' in own and k not in own]
        if dense_for_fd:
            raise ValueError(
                f'the checkpoint has dense MLP weights ({dense_for_fd[0]} and '
                f'{len(dense_for_fd) - 1} more) but this ConvNeXt uses FDLinear (fdlinear_cfg): '
                'convert it first with tools/convert_to_fdconv.py --model-type convnext')
        state_dict = OrderedDict((k, v) for k, v in state_dict.items() if k not in CLASSIFIER_KEYS)
        return load_state_dict_with_report(self, state_dict, 'ConvNeXt', logger)

    # ------------------------------------------------------------------ train / forward
    def _freeze_stages(self) -> None:
        for i in range(self.frozen_stages + 1):
            for part in (self.downsample_layers[i], self.stages[i]):
                part.eval()
                for name, param in part.named_parameters():
                    param.requires_grad = any(key in name for key in self.need_grad_list)

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        return self

    def forward(self, x: torch.Tensor):
        outs = []
        for i in range(4):
            x = self.stages[i](self.downsample_layers[i](x))
            if i in self.out_indices:
                outs.append(getattr(self, f'norm{i}')(x))
        return tuple(outs)

