"""The stock Swin Transformer of mmdet and of mmseg with FDLinear (FDConv on tokens, Chen et al.,
CVPR 2025, Tables 3 and 5) as the two linears of every block's MLP.

The stock ``SwinTransformer`` is built unchanged, then every
``stages.{i}.blocks.{j}.ffn.layers.0.0`` (Linear C -> 4C) and ``ffn.layers.1`` (Linear 4C -> C)
becomes an :class:`~mmfreq.layers.FDLinear` with FDConv's release options ``fdlinear_cfg``. All
other names are the stock ones, so the stock loading path of each codebase works on a checkpoint
converted with ``tools/convert_to_fdconv.py --model-type swin``:

* mmdet (``SwinTransformerFDConv`` in mmdet's registry): an official Swin ImageNet checkpoint
  (``layers.{i}.blocks.{j}.mlp.fc1.dft_weight`` ...) goes through mmdet's ``swin_converter``
  (``convert_weights=True``) like the plain one.
* mmseg (``SwinTransformerFDConv`` in mmseg's registry, the backbone of mmseg's Swin Mask2Former and
  UPerNet configs): mmseg's Swin checkpoints are already in mmseg's layout
  (``stages.{i}.blocks.{j}.ffn.layers.0.0.dft_weight`` ...) and load by name.
"""
import re
from typing import Optional

from mmengine.config import ConfigDict
from torch import nn

from ..layers import FDLinear
from ..layers.fdconv_conversion import fdconv_from_conv
from . import usable

__all__ = ['SwinFDLinearMixin', 'SWIN_MLP_PATTERN']

#: names of the MLP linears of the stock SwinTransformer (mmdet's and mmseg's) that become FDLinear
SWIN_MLP_PATTERN = re.compile(r'^stages\.\d+\.blocks\.\d+\.ffn\.layers\.(?:0\.0|1)$')


class SwinFDLinearMixin:
    """FDLinear MLPs for a stock ``SwinTransformer`` host (mmdet's or mmseg's, same arguments).

    Args:
        fdlinear_cfg: FDConv's release options for the MLP's :class:`~mmfreq.layers.FDLinear`
            layers; default ``dict(kernel_num=64)`` (the detection setting of the release).
            Invalid options raise ``ValueError`` at build.
        **kwargs: the arguments of the host's ``SwinTransformer``.
    """

    def __init__(self, fdlinear_cfg: Optional[dict] = None, **kwargs):
        if fdlinear_cfg is None:
            fdlinear_cfg = dict(kernel_num=64)
        if not isinstance(fdlinear_cfg, dict):
            raise ValueError(f'fdlinear_cfg must be a dict of FDConv options, got {fdlinear_cfg!r}')
        fdlinear_cfg = dict(fdlinear_cfg)
        fdlinear_cfg.pop('type', None)  # allow dict(type='FDLinear', ...)
        if isinstance(kwargs.get('init_cfg'), dict):  # mmdet's init reads it by attribute
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
        if not self.fdlinear_names:  # pragma: no cover - the stock Swin always has MLPs
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


if usable('mmdet'):
    from mmdet.models.backbones import SwinTransformer as _MMDetSwinTransformer
    from mmdet.registry import MODELS as _MMDET_MODELS

    @_MMDET_MODELS.register_module(name='SwinTransformerFDConv')
    class SwinTransformerFDConv(SwinFDLinearMixin, _MMDetSwinTransformer):
        """mmdet's ``SwinTransformer`` (same arguments, ``convert_weights`` included) with
        FDLinear MLPs; ``fdlinear_cfg`` as in :class:`SwinFDLinearMixin`."""

    __all__.append('SwinTransformerFDConv')

if usable('mmseg'):
    from mmseg.models.backbones import SwinTransformer as _MMSegSwinTransformer
    from mmseg.registry import MODELS as _MMSEG_MODELS

    @_MMSEG_MODELS.register_module(name='SwinTransformerFDConv')
    class SegSwinTransformerFDConv(SwinFDLinearMixin, _MMSegSwinTransformer):
        """mmseg's ``SwinTransformer`` (same arguments) with FDLinear MLPs; ``fdlinear_cfg`` as in
        :class:`SwinFDLinearMixin`."""

    __all__.append('SegSwinTransformerFDConv')
