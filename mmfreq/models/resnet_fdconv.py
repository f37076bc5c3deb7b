"""ResNet with FDConv (Chen et al., "Frequency Dynamic Convolution for Dense Image Prediction",
CVPR 2025) for mmdet, mmseg and mmpretrain, as in the authors' release.

The convs of every residual block (``conv1``/``conv2``/``conv3`` of a Bottleneck,
``conv1``/``conv2`` of a BasicBlock) are built from ``conv_cfg`` (default ``dict(type='FDConv')``;
the release's detection configs use ``kernel_num=64``); the stem (7x7 conv, or the three 3x3 convs
of a deep stem) and the ``downsample`` 1x1 convs stay plain ``nn.Conv2d``, whatever ``conv_cfg``
says. Block convs that are not plain convs (DCN from ``dcn``) are left alone.

With ``frozen_stages``, the parameters of frozen stages whose name contains an entry of
``need_grad_list`` (release: ``['KSM', 'FBM']``) stay trainable, also after ``train()`` (which calls
``_freeze_stages``). Frozen stages are still put in eval mode, so their KSM BatchNorm uses running
statistics. ``with_cp=True`` checkpoints each block with ``use_reentrant=False`` given
(:mod:`.block_checkpoint`).

Registered names:

* mmdet: ``ResNetFDConv`` (subclass of mmdet's ``ResNet``, same arguments) and the release's config
  name ``ResNet_FDConv`` (the same class).
* mmseg: ``ResNetV1cFDConv`` (subclass of mmseg's ``ResNetV1c``: deep stem, no average-pool
  downsampling), ``ResNetFDConv`` (subclass of mmseg's ``ResNet``, 7x7 stem) and ``ResNet_FDConv``
  = ``ResNetV1cFDConv``. mmseg's UPerNet R50 uses ``ResNetV1c`` (with
  the ``resnet50_v1c`` ImageNet weights), so the release name maps to the V1c variant; unlike stock
  ``ResNetV1c`` it accepts explicit ``deep_stem`` / ``avg_down`` arguments, so a config written
  for a 7x7 stem (``deep_stem=False``) still builds the same network. A stem mismatch against a
  checkpoint would show up as missing/unexpected ``stem.*`` / ``conv1.*`` keys, never silently.
* mmpretrain: ``ResNetFDConv`` (subclass of mmpretrain's ``ResNet``; ImageNet classification).
"""
from typing import List, Optional, Sequence

from mmcv.cnn import build_conv_layer
from torch import nn

from . import usable
from .block_checkpoint import checkpoint_explicitly_

__all__ = ['replace_block_convs_', 'keep_trainable_', 'DEFAULT_BLOCK_CONV_CFG',
           'DEFAULT_NEED_GRAD_LIST']

DEFAULT_BLOCK_CONV_CFG = dict(type='FDConv')
DEFAULT_NEED_GRAD_LIST = ('KSM', 'FBM')
BLOCK_CONV_NAMES = ('conv1', 'conv2', 'conv3')


def replace_block_convs_(res_layer: nn.Module, conv_cfg: Optional[dict],
                         names: Sequence[str] = BLOCK_CONV_NAMES) -> List[str]:
    """Rebuild, in place, the plain ``nn.Conv2d`` ``names`` of every block of ``res_layer`` with
    ``build_conv_layer(conv_cfg, ...)`` and the same in/out channels, kernel, stride, padding,
    dilation, groups and bias. Returns the replaced ``'<block index>.<name>'``."""
    replaced = []
    if conv_cfg is None:
        return replaced
    for index, block in enumerate(res_layer):
        for name in names:
            conv = getattr(block, name, None)
            if type(conv) is not nn.Conv2d:
                continue
            setattr(block, name, build_conv_layer(
                conv_cfg, conv.in_channels, conv.out_channels, conv.kernel_size,
                stride=conv.stride, padding=conv.padding, dilation=conv.dilation,
                groups=conv.groups, bias=conv.bias is not None))
            replaced.append(f'{index}.{name}')
    return replaced


def keep_trainable_(module: nn.Module, need_grad_list: Sequence[str]) -> None:
    """``requires_grad = True`` for the parameters whose name contains an entry of the list."""
    for name, param in module.named_parameters():
        if any(key in name for key in need_grad_list):
            param.requires_grad = True


def _check_arguments(conv_cfg, need_grad_list) -> None:
    if conv_cfg is not None and not (isinstance(conv_cfg, dict) and 'type' in conv_cfg):
        raise ValueError(f'conv_cfg must be None or a dict with a "type" (e.g. '
                         f"dict(type='FDConv', kernel_num=64)), got {conv_cfg!r}")
    if isinstance(need_grad_list, str) or not all(isinstance(key, str) for key in need_grad_list):
        raise ValueError(f'need_grad_list must be a list of strings '
                         f'(e.g. {list(DEFAULT_NEED_GRAD_LIST)}), got {need_grad_list!r}')


class FDConvResNetMixin:
    """Block convs from ``block_conv_cfg``, plain stem and downsample, ``need_grad_list``.

    The host is an mm ``ResNet`` built with ``conv_cfg=None`` (so the stem and the downsample convs
    are plain); :meth:`make_res_layer` then rebuilds the block convs from ``block_conv_cfg``.

    Args:
        depth, *args: as the host ``ResNet``.
        conv_cfg: config of the block convs, default ``dict(type='FDConv')``.
        need_grad_list: name fragments of parameters that stay trainable in frozen stages.
        **kwargs: as the host ``ResNet``.
    """

    def __init__(self, depth: int, *args, conv_cfg: Optional[dict] = DEFAULT_BLOCK_CONV_CFG,
                 need_grad_list: Sequence[str] = DEFAULT_NEED_GRAD_LIST, **kwargs):
        self._set_fdconv_arguments(conv_cfg, need_grad_list)
        super().__init__(depth, *args, conv_cfg=None, **kwargs)

    def _set_fdconv_arguments(self, conv_cfg, need_grad_list) -> None:
        _check_arguments(conv_cfg, need_grad_list)
        # set before the base __init__, which calls make_res_layer and _freeze_stages
        self.block_conv_cfg = None if conv_cfg is None else dict(conv_cfg)
        self.need_grad_list = tuple(need_grad_list)

    def make_res_layer(self, **kwargs):
        res_layer = super().make_res_layer(**kwargs)
        replace_block_convs_(res_layer, self.block_conv_cfg)
        checkpoint_explicitly_(res_layer)  # with_cp: the stock blocks omit use_reentrant
        return res_layer

    def _freeze_stages(self):
        super()._freeze_stages()
        for i in range(1, self.frozen_stages + 1):
            keep_trainable_(getattr(self, f'layer{i}'), self.need_grad_list)


if usable('mmdet'):
    from mmdet.models.backbones import ResNet as _MMDetResNet
    from mmdet.registry import MODELS as _MMDET_MODELS

    class ResNetFDConv(FDConvResNetMixin, _MMDetResNet):
        """mmdet ``ResNet`` with FDConv block convs (see the module docstring; arguments as
        :class:`FDConvResNetMixin`)."""

    _MMDET_MODELS.register_module(name='ResNetFDConv', module=ResNetFDConv)
    _MMDET_MODELS.register_module(name='ResNet_FDConv', module=ResNetFDConv)
    __all__.append('ResNetFDConv')

if usable('mmseg'):
    from mmseg.models.backbones import ResNet as _MMSegResNet
    from mmseg.models.backbones import ResNetV1c as _MMSegResNetV1c
    from mmseg.registry import MODELS as _MMSEG_MODELS

    class SegResNetFDConv(FDConvResNetMixin, _MMSegResNet):
        """mmseg ``ResNet`` (7x7 stem by default) with FDConv block convs."""

    class ResNetV1cFDConv(FDConvResNetMixin, _MMSegResNetV1c):
        """mmseg ``ResNetV1c`` (deep stem, ``avg_down=False`` by default, both overridable) with
        FDConv block convs; also registered as the release name ``ResNet_FDConv``."""

        def __init__(self, depth: int, *args, conv_cfg: Optional[dict] = DEFAULT_BLOCK_CONV_CFG,
                     need_grad_list: Sequence[str] = DEFAULT_NEED_GRAD_LIST,
                     deep_stem: bool = True, avg_down: bool = False, **kwargs):
            self._set_fdconv_arguments(conv_cfg, need_grad_list)
            # ResNetV1c.__init__ only fixes deep_stem/avg_down; call ResNet's with our defaults
            _MMSegResNet.__init__(self, depth, *args, deep_stem=deep_stem, avg_down=avg_down,
                                  conv_cfg=None, **kwargs)

    _MMSEG_MODELS.register_module(name='ResNetFDConv', module=SegResNetFDConv)
    _MMSEG_MODELS.register_module(name='ResNetV1cFDConv', module=ResNetV1cFDConv)
    _MMSEG_MODELS.register_module(name='ResNet_FDConv', module=ResNetV1cFDConv)
    __all__ += ['SegResNetFDConv', 'ResNetV1cFDConv']

if usable('mmpretrain'):
    from mmpretrain.models.backbones import ResNet as _MMPretrainResNet
    from mmpretrain.registry import MODELS as _MMPRETRAIN_MODELS

    class ClsResNetFDConv(FDConvResNetMixin, _MMPretrainResNet):
        """mmpretrain ``ResNet`` (ImageNet classification) with FDConv block convs."""

    _MMPRETRAIN_MODELS.register_module(name='ResNetFDConv', module=ClsResNetFDConv)
    __all__.append('ClsResNetFDConv')
