"""Registers the dynamic convolutions FDConv (CVPR 2025) compares with (CondConv, DY-Conv, DCD,
ODConv, KernelWarehouse; docs/dynamic-convs.md) as OpenMMLab conv layers, like ``FDConv``
(:mod:`.conv_layers`): after ``import mmfreq``, ``conv_cfg=dict(type='ODConv2d', kernel_num=4)``
works in any mm backbone and from any scope. ``KWConv2d`` built this way has a warehouse of its
own; sharing warehouses across a network needs the ``ResNetKW`` backbones
(:mod:`.resnet_dynamic`).
"""
from mmengine.registry import MODELS

from ..layers import CondConv2d, DCDConv2d, DynamicConv2d, KWConv2d, ODConv2d

__all__ = ['DYNAMIC_CONVS']

DYNAMIC_CONVS = dict(CondConv2d=CondConv2d, DynamicConv2d=DynamicConv2d, DCDConv2d=DCDConv2d,
                     ODConv2d=ODConv2d, KWConv2d=KWConv2d)

for _name, _module in DYNAMIC_CONVS.items():
    if MODELS.get(_name) is not _module:
        MODELS.register_module(name=_name, module=_module)
