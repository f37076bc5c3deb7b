"""mmdet's stock Swin Transformer with FDLinear (FDConv on tokens, Chen et al., CVPR 2025, Table 3)
as the two linears of every block's MLP.

The stock :class:`mmdet.models.backbones.SwinTransformer` is built unchanged, then every
``stages.{i}.blocks.{j}.ffn.layers.0.0`` (Linear C -> 4C) and ``ffn.layers.1`` (Linear 4C -> C)
becomes an :class:`~mmfreq.layers.FDLinear` with FDConv's release options ``fdlinear_cfg``. All
other names are the stock ones, so the stock loading path works: an official Swin ImageNet
checkpoint converted with ``tools/convert_to_fdconv.py --model-type swin`` (``mlp.fc1.dft_weight``
...) goes through mmdet's ``swin_converter`` (``convert_weights=True``) like the plain one.
"""
import re
from typing import Optional

import torch
from mmengine.config import ConfigDict
from torch import nn

from mmdet.models.backbones import SwinTransformer
from mmdet.registry import MODELS

from ..layers import FDLinear
from ..layers.fdconv_conversion import fdconv_from_conv

__all__ = ['SwinTransformerFDConv', 'SWIN_MLP_PATTERN']

#: names of the MLP linears of mmdet's SwinTransformer that become FDLinear
SWIN_MLP_PATTERN = re.compile(r'^stages\.\d+\.blocks\.\d+\.ffn\.layers\.(?:0\.0|1)$')


@MODELS.register_module()
class SwinTransformerFDConv(SwinTransformer):
    """mmdet's ``SwinTransformer`` (same arguments) with FDLinear MLPs.

    Args:
        fdlinear_cfg: FDConv's release options for the MLP's :class:`~mmfreq.layers.FDLinear`
            layers; default ``dict(kernel_num=64)`` (the detection setting of the release).
            Invalid options raise ``ValueError`` at build.
        **kwargs: the arguments of mmdet's ``SwinTransformer``.
    """

    def __init__(self, fdlinear_cfg: Optional[dict] = None, **kwargs):
        if fdlinear_cfg is None:
            fdlinear_cfg = dict(kernel_num=64)
        if not isinstance(fdlinear_cfg, dict):
            raise ValueError(f'fdlinear_cfg must be a dict of FDConv options, got {fdlinear_cfg!r}')
        fdlinear_cfg = dict(fdlinear_cfg)
        fdlinear_cfg.pop('type', None)  # allow dict(type='FDLinear', ...)
        if isinstance(kwargs.get('init_cfg'), dict):  # the stock init reads it by attribute
            kwargs['init_cfg'] = ConfigDict(kwargs['init_cfg'])
        super().__init__(**kwargs)
        self.fdlinear_cfg = fdlinear_cfg
        self.fdlinear_names = []
        # mmcv's FFN builds ``mmcv.cnn.Linear`` (an nn.Linear subclass): match by isinstance
        for name, module in list(self.named_modules()):
            if isinstance(module, nn.Linear) and SWIN_MLP_PATTERN.match(name):
                parent, _, child = name.rpartition('.')
                setattr(self.get_submodule(parent), child,
                        fdconv_from_conv(module, **fdlinear_cfg))
                self.fdlinear_names.append(name)
        if not self.fdlinear_names:  # pragma: no cover - mmdet's Swin always has MLPs
            raise RuntimeError('no Swin MLP linear found to convert to FDLinear')

    def init_weights(self) -> None:
        """Stock Swin init. From scratch, the FDLinear ``dft_weight`` then takes the FDW of a
        truncated-normal (std 0.02) weight, as the stock init gives the plain linears."""
        super().init_weights()
        if self.init_cfg is not None:
            return
        for module in self.modules():
            if isinstance(module, FDLinear) and module.is_fdconv:
                module.init_dense_weight_(lambda weight: nn.init.trunc_normal_(weight, std=.02))
                module.init_weights()  # the spec init of KSM
