"""Registers FDConv (Chen et al., CVPR 2025) as an OpenMMLab conv layer.

mmcv 2's ``build_conv_layer`` looks layer types up in mmengine's root ``MODELS`` registry (through
the current scope's registry, whose parent it is), so after ``import mmfreq``
``conv_cfg=dict(type='FDConv', kernel_num=64, ...)`` works in any mm backbone and from any scope
(mmdet, mmseg, mmrotate). ``FDLinear`` is registered too, for ``build_linear_layer``-style configs.
"""
from mmengine.registry import MODELS

from ..layers import FDConv, FDLinear

__all__ = ['FDConv', 'FDLinear']

for _name, _module in (('FDConv', FDConv), ('FDLinear', FDLinear)):
    if MODELS.get(_name) is not _module:
        MODELS.register_module(name=_name, module=_module)
