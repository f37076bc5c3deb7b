"""ResNets with the dynamic convolutions FDConv (CVPR 2025) compares with (Tables 1-2), for mmdet
and mmseg: which convs of a ResNet each method's authors make dynamic, as a registered backbone.

* ``ResNetDynamicConv`` (mmdet; mmseg: ``ResNetV1cDynamicConv``, ``ResNetDynamicConv``): the
  block convs (``conv1``/``conv2``/``conv3`` of a Bottleneck, ``conv1``/``conv2`` of a
  BasicBlock) of the stages in ``dynamic_stages`` are rebuilt from ``conv_cfg`` (any conv type:
  ``CondConv2d``, ``DynamicConv2d``, ``DCDConv2d``, ``ODConv2d``, ``FDConv``, ...), and their
  ``downsample`` 1x1 convs too from ``downsample_conv_cfg`` when given (DY-Conv makes every conv
  but the stem dynamic). The stem stays plain.
* ``ResNetKW`` (mmdet; mmseg: ``ResNetV1cKW``, ``ResNetKW``): KernelWarehouse, whose warehouses
  are shared across the layers of a stage and handed over between stages, as in the authors'
  ``KW_ResNet`` (OSVAI/KernelWarehouse): a ``KernelWarehouseManager`` (``warehouse_manager``)
  in the backbone; each block conv and each strided ``downsample`` conv is a ``KWConv2d`` named
  as the authors name it (``stage{s}_layer{l}_conv{j}``, the first block's ``conv1`` and the
  downsample conv in the previous stage's ``conv0`` warehouse; stage 1's first ``conv1`` of a
  Bottleneck and its stride-1 downsample stay plain). Parameter counts: README, "Comparison
  methods".

``need_grad_list``: name fragments of parameters that stay trainable in frozen stages (as for
``ResNetFDConv``; default none).
"""
from typing import Optional, Sequence

from mmcv.cnn import build_conv_layer
from torch import nn

from ..layers import KernelWarehouseManager, KWConv2d
from . import usable
from .resnet_fdconv import BLOCK_CONV_NAMES, keep_trainable_, replace_block_convs_

__all__ = ['replace_downsample_convs_']


def replace_downsample_convs_(res_layer: nn.Module, conv_cfg: dict) -> None:
    """Rebuild, in place, the plain conv of every block's ``downsample`` with
    ``build_conv_layer(conv_cfg, ...)`` and the same geometry."""
    for block in res_layer:
        downsample = getattr(block, 'downsample', None)
        if downsample is None:
            continue
        for index, conv in enumerate(downsample):
            if type(conv) is nn.Conv2d:
                downsample[index] = build_conv_layer(
                    conv_cfg, conv.in_channels, conv.out_channels, conv.kernel_size,
                    stride=conv.stride, padding=conv.padding, dilation=conv.dilation,
                    groups=conv.groups, bias=conv.bias is not None)


def _check_conv_cfg(name: str, conv_cfg, required: bool) -> None:
    if conv_cfg is None and not required:
        return
    if not (isinstance(conv_cfg, dict) and 'type' in conv_cfg):
        raise ValueError(f"{name} must be a dict with a 'type' (e.g. dict(type='ODConv2d', "
                         f'kernel_num=4)){"" if required else " or None"}, got {conv_cfg!r}')


class DynamicConvResNetMixin:
    """Block convs of ``dynamic_stages`` from ``conv_cfg``, downsample convs from
    ``downsample_conv_cfg``; the host is an mm ``ResNet`` built with ``conv_cfg=None``."""

    def _set_dynamic_arguments(self, conv_cfg, downsample_conv_cfg, dynamic_stages,
                               need_grad_list) -> None:
        _check_conv_cfg('conv_cfg', conv_cfg, required=True)
        _check_conv_cfg('downsample_conv_cfg', downsample_conv_cfg, required=False)
        if isinstance(dynamic_stages, (str, int)) or not all(
                isinstance(s, int) and 0 <= s for s in dynamic_stages):
            raise ValueError(f'dynamic_stages must be a sequence of stage indices (0-based, '
                             f'e.g. (0, 1, 2, 3)), got {dynamic_stages!r}')
        # plain attributes, set before the base __init__ (which calls make_res_layer)
        self.block_conv_cfg, self.downsample_conv_cfg = dict(conv_cfg), downsample_conv_cfg
        self.dynamic_stages = tuple(dynamic_stages)
        self.need_grad_list = tuple(need_grad_list)
        self._stages_built = 0

    def make_res_layer(self, **kwargs):
        res_layer = super().make_res_layer(**kwargs)
        if self._stages_built in self.dynamic_stages:
            replace_block_convs_(res_layer, self.block_conv_cfg)
            if self.downsample_conv_cfg is not None:
                replace_downsample_convs_(res_layer, self.downsample_conv_cfg)
        self._stages_built += 1
        return res_layer

    def _freeze_stages(self):
        super()._freeze_stages()
        for i in range(1, self.frozen_stages + 1):
            keep_trainable_(getattr(self, f'layer{i}'), self.need_grad_list)


def _kw_conv(conv: nn.Conv2d, manager: KernelWarehouseManager, name: str) -> KWConv2d:
    return KWConv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                    padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                    bias=conv.bias is not None, warehouse_manager=manager, warehouse_name=name)


class KernelWarehouseResNetMixin:
    """KernelWarehouse over a whole mm ``ResNet`` (module docstring), applied after the base
    ``__init__`` has built the plain network."""

    def _build_warehouses(self, manager_options: dict, need_grad_list: Sequence[str]) -> None:
        self.need_grad_list = tuple(need_grad_list)
        self.warehouse_manager = KernelWarehouseManager(**manager_options)
        manager = self.warehouse_manager
        bottleneck = hasattr(getattr(self, self.res_layers[0])[0], 'conv3')
        layer_idx = 0  # the authors' running block counter (it names the warehouses)
        for stage, layer_name in enumerate(self.res_layers):
            res_layer = getattr(self, layer_name)
            for index, block in enumerate(res_layer):
                if index == 0 and block.downsample is not None and self.strides[stage] != 1:
                    for i, conv in enumerate(block.downsample):
                        if type(conv) is nn.Conv2d:
                            block.downsample[i] = _kw_conv(
                                conv, manager, f'stage{stage - 1}_layer{layer_idx + 1}_conv0')
                handover = index == 0
                conv1_stage = stage - 1 if handover else stage
                if not bottleneck:
                    conv1_stage = max(conv1_stage, 0)
                block_idx = layer_idx if handover else index
                names = [f'stage{conv1_stage}_layer{block_idx}_conv0']
                names += [f'stage{stage}_layer{0 if handover else index}_conv{j}'
                          for j in range(1, 3 if bottleneck else 2)]
                for conv_name, name in zip(BLOCK_CONV_NAMES, names):
                    conv = getattr(block, conv_name)
                    if type(conv) is nn.Conv2d and not name.startswith('stage-1'):
                        setattr(block, conv_name, _kw_conv(conv, manager, name))
                layer_idx = 1 if handover else layer_idx + 1
        manager.store()
        manager.allocate(self)
        self._freeze_stages()

    def _freeze_stages(self):
        super()._freeze_stages()
        for i in range(1, self.frozen_stages + 1):
            keep_trainable_(getattr(self, f'layer{i}'), getattr(self, 'need_grad_list', ()))


_DYNAMIC_DOC = """mm ``{base}`` with dynamic block convs (module docstring).

        Args:
            depth, *args, **kwargs: as ``{base}``.
            conv_cfg: the block convs' config, e.g. ``dict(type='ODConv2d', kernel_num=4)``.
            downsample_conv_cfg: the downsample convs' config (None: plain).
            dynamic_stages: stage indices whose convs are rebuilt (default all four).
            need_grad_list: name fragments of parameters that stay trainable in frozen stages.
        """
_KW_DOC = """mm ``{base}`` with KernelWarehouse (module docstring).

        Args:
            depth, *args, **kwargs: as ``{base}``.
            reduction, cell_num_ratio, cell_inplane_ratio, cell_outplane_ratio,
            nonlocal_basis_ratio, sharing_range: the ``KernelWarehouseManager``'s
                (``cell_num_ratio`` 1: "KW (1x)", 4: "KW (4x)").
            need_grad_list: name fragments of parameters that stay trainable in frozen stages.
        """


def _dynamic_class(base, name: str, **fixed):
    def __init__(self, depth: int, *args, conv_cfg: dict = None,
                 downsample_conv_cfg: Optional[dict] = None,
                 dynamic_stages: Sequence[int] = (0, 1, 2, 3),
                 need_grad_list: Sequence[str] = (), **kwargs):
        self._set_dynamic_arguments(conv_cfg, downsample_conv_cfg, dynamic_stages,
                                    need_grad_list)
        base.__init__(self, depth, *args, conv_cfg=None, **{**fixed, **kwargs})

    return type(name, (DynamicConvResNetMixin, base),
                dict(__init__=__init__, __doc__=_DYNAMIC_DOC.format(base=base.__name__)))


def _kw_class(base, name: str, **fixed):
    def __init__(self, depth: int, *args, reduction: float = 0.0625,
                 cell_num_ratio: float = 1.0, cell_inplane_ratio: float = 1.0,
                 cell_outplane_ratio: float = 1.0, nonlocal_basis_ratio: float = 1.0,
                 sharing_range: Sequence[str] = ('layer', 'conv'),
                 need_grad_list: Sequence[str] = (), **kwargs):
        base.__init__(self, depth, *args, conv_cfg=None, **{**fixed, **kwargs})
        self._build_warehouses(dict(reduction=reduction, cell_num_ratio=cell_num_ratio,
                                    cell_inplane_ratio=cell_inplane_ratio,
                                    cell_outplane_ratio=cell_outplane_ratio,
                                    nonlocal_basis_ratio=nonlocal_basis_ratio,
                                    sharing_range=sharing_range), need_grad_list)

    return type(name, (KernelWarehouseResNetMixin, base),
                dict(__init__=__init__, __doc__=_KW_DOC.format(base=base.__name__)))


if usable('mmdet'):
    from mmdet.models.backbones import ResNet as _MMDetResNet
    from mmdet.registry import MODELS as _MMDET_MODELS

    ResNetDynamicConv = _dynamic_class(_MMDetResNet, 'ResNetDynamicConv')
    ResNetKW = _kw_class(_MMDetResNet, 'ResNetKW')
    _MMDET_MODELS.register_module(name='ResNetDynamicConv', module=ResNetDynamicConv)
    _MMDET_MODELS.register_module(name='ResNetKW', module=ResNetKW)
    __all__ += ['ResNetDynamicConv', 'ResNetKW']

if usable('mmseg'):
    from mmseg.models.backbones import ResNet as _MMSegResNet
    from mmseg.registry import MODELS as _MMSEG_MODELS

    # ResNetV1c: mmseg's ResNet with the deep stem and no average-pool downsampling (the
    # UPerNet R50 of the paper's Table 2); the stem stays plain
    SegResNetDynamicConv = _dynamic_class(_MMSegResNet, 'SegResNetDynamicConv')
    ResNetV1cDynamicConv = _dynamic_class(_MMSegResNet, 'ResNetV1cDynamicConv',
                                          deep_stem=True, avg_down=False)
    SegResNetKW = _kw_class(_MMSegResNet, 'SegResNetKW')
    ResNetV1cKW = _kw_class(_MMSegResNet, 'ResNetV1cKW', deep_stem=True, avg_down=False)
    for _name, _module in (('ResNetDynamicConv', SegResNetDynamicConv),
                           ('ResNetV1cDynamicConv', ResNetV1cDynamicConv),
                           ('ResNetKW', SegResNetKW), ('ResNetV1cKW', ResNetV1cKW)):
        _MMSEG_MODELS.register_module(name=_name, module=_module)
    __all__ += ['SegResNetDynamicConv', 'ResNetV1cDynamicConv', 'SegResNetKW', 'ResNetV1cKW']
