"""Pretrained conversion to FDConv (Chen et al., CVPR 2025; docs/fdconv.md, "Pretrained conversion").

A plain checkpoint converts layer by layer: a conv/linear ``weight`` that becomes an FDConv/FDLinear
(by the fallback rule :func:`~mmfreq.layers.frequency_dynamic.uses_fdconv`) is replaced by ``dft_weight``
(:func:`conv_weight_to_dft_weight`: the FDW transform divided by ``min(in, out) // 2``, repeated
``param_ratio`` times, only the lowest frequencies with ``param_reduction < 1``); everything else is
kept. KSM/FBM parameters are new and take their init
when the converted state dict is loaded with ``strict=False`` (mmengine's default).

Which layers convert, per model type (``FDCONV_KEY_PATTERNS``; any prefix such as ``backbone.`` or
``module.`` is allowed):

* ``resnet``: bottleneck ``layer{i}.{j}.conv1/conv2/conv3`` (torchvision, mmdet, mmseg, mmpretrain
  layouts); the stem and ``downsample`` convs stay plain.
* ``vit``: MLP linears ``blocks.{i}.mlp.fc1/fc2`` (official ViT/DeiT, timm) and
  ``layers.{i}.ffn.layers.0.0`` / ``layers.{i}.ffn.layers.1`` (mmseg/mmpretrain ViT).
* ``swin``: ``layers.{i}.blocks.{j}.mlp.fc1/fc2`` (official Swin; mmdet's ``swin_converter`` maps
  them to ``ffn.layers.0.0`` / ``ffn.layers.1``, the ``dft_weight`` suffix passes through) and
  ``stages.{i}.blocks.{j}.ffn.layers.0.0`` / ``ffn.layers.1`` (mmdet's SwinTransformer).
* ``convnext``: ``stages.{i}.{j}.pwconv1/pwconv2`` (official ConvNeXt),
  ``stages.{i}.{j}.pointwise_conv1/pointwise_conv2`` (mmpretrain ConvNeXt, as used by mmdet) and
  ``stages.{i}.blocks.{j}.mlp.fc1/fc2`` (timm).
"""
import re
from typing import Callable, Dict, Iterable, List, Mapping, Sequence, Tuple, Union

import torch
from torch import nn

from .fdconv import FDConv, FDLinear
from .frequency_dynamic import uses_fdconv
from .fdconv_options import option_default
from .fourier_disjoint import conv_weight_to_dft_weight, dft_weight_to_conv_weight

__all__ = ['conv_weight_to_dft_weight', 'dft_weight_to_conv_weight', 'fdconv_from_conv',
           'convert_modules_to_fdconv_', 'convert_state_dict_to_fdconv',
           'convert_checkpoint_to_fdconv', 'fdconv_key_matcher',
           'restore_dense_weight', 'FDCONV_KEY_PATTERNS', 'MODEL_TYPES']

_ANY_PREFIX = r'(?:^|.*\.)'
FDCONV_KEY_PATTERNS: Dict[str, Tuple[str, ...]] = {
    'resnet': (_ANY_PREFIX + r'layer\d+\.\d+\.conv[123]$', ),
    'vit': (_ANY_PREFIX + r'blocks\.\d+\.mlp\.fc[12]$',
            _ANY_PREFIX + r'layers\.\d+\.ffn\.layers\.(?:0\.0|1)$'),
    'swin': (_ANY_PREFIX + r'blocks\.\d+\.mlp\.fc[12]$',
             _ANY_PREFIX + r'blocks\.\d+\.ffn\.layers\.(?:0\.0|1)$'),
    'convnext': (_ANY_PREFIX + r'stages\.\d+\.\d+\.(?:pwconv|pointwise_conv)[12]$',
                 _ANY_PREFIX + r'stages\.\d+\.blocks\.\d+\.mlp\.fc[12]$'),
}
MODEL_TYPES = tuple(FDCONV_KEY_PATTERNS)


def fdconv_key_matcher(model_type: str) -> Callable[[str], bool]:
    """Predicate on a module name (a state-dict key without ``.weight``) telling whether that layer
    becomes FDConv/FDLinear in ``model_type`` (one of ``MODEL_TYPES``)."""
    if model_type not in FDCONV_KEY_PATTERNS:
        raise ValueError(f'model_type must be one of {MODEL_TYPES}, got {model_type!r}')
    patterns = [re.compile(p) for p in FDCONV_KEY_PATTERNS[model_type]]
    return lambda name: any(p.match(name) for p in patterns)


def fdconv_from_conv(layer: Union[nn.Conv2d, nn.Linear], **options) -> Union[FDConv, FDLinear]:
    """An :class:`FDConv` (from ``nn.Conv2d``) or :class:`FDLinear` (from ``nn.Linear``) with the
    layer's configuration, its weight (as ``dft_weight`` when dynamic, else as ``weight``) and bias.
    ``options`` are FDConv's release options. The layer's device, dtype and train mode carry
    over."""
    factory = dict(device=layer.weight.device, dtype=layer.weight.dtype)
    has_bias = layer.bias is not None
    if isinstance(layer, nn.Linear):
        new = FDLinear(layer.in_features, layer.out_features, has_bias, **options, **factory)
    elif isinstance(layer, nn.Conv2d):
        if layer.padding_mode != 'zeros':
            raise ValueError(f'FDConv supports padding_mode="zeros" only, '
                             f'got {layer.padding_mode!r}')
        new = FDConv(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                     layer.padding, layer.dilation, layer.groups, has_bias, **options, **factory)
    else:
        raise TypeError(f'expected nn.Conv2d or nn.Linear, got {type(layer).__name__}')
    new.set_dense_weight(layer.weight)
    if has_bias:
        with torch.no_grad():
            new.bias.copy_(layer.bias)
    return new.train(layer.training)


def convert_modules_to_fdconv_(model: nn.Module,
                               include: Union[str, Callable[[str], bool]],
                               **options) -> List[str]:
    """Replace, in place, every ``nn.Conv2d``/``nn.Linear`` of ``model`` whose name matches
    ``include`` (a model type of ``MODEL_TYPES`` or a predicate on module names) by
    :func:`fdconv_from_conv`. Besides the torch classes, subclasses that keep the class name
    (mmcv's ``Conv2d``/``Linear`` wrappers) qualify; other subclasses (e.g. adaptive-padding convs,
    FDConv itself) are left alone. Returns the names of the replaced modules."""
    matches = fdconv_key_matcher(include) if isinstance(include, str) else include
    replaced = []
    for name, module in list(model.named_modules()):
        if not _is_plain_layer(module) or not matches(name):
            continue
        parent_name, _, child = name.rpartition('.')
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, fdconv_from_conv(module, **options))
        replaced.append(name)
    return replaced


def _is_plain_layer(module: nn.Module) -> bool:
    return (isinstance(module, (nn.Conv2d, nn.Linear))
            and not isinstance(module, (FDConv, FDLinear))
            and type(module).__name__ in ('Conv2d', 'Linear'))


def convert_state_dict_to_fdconv(
        state_dict: Mapping[str, torch.Tensor], model_type: str,
        param_ratio: int = option_default('param_ratio'),
        use_fdconv_if_c_gt: int = option_default('use_fdconv_if_c_gt'),
        use_fdconv_if_k_in: Sequence[int] = option_default('use_fdconv_if_k_in'),
        param_reduction: float = option_default('param_reduction')
) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Convert a plain state dict to the FDConv layout.

    Every ``<name>.weight`` whose ``<name>`` matches ``model_type``'s patterns and whose shape
    ``(out, in, k, k)``/``(out, in)`` passes the fallback rule becomes ``<name>.dft_weight``; all
    other entries are kept as they are (same order). Returns ``(new_state_dict, converted_names)``.
    """
    matches = fdconv_key_matcher(model_type)
    converted: Dict[str, torch.Tensor] = {}
    names: List[str] = []
    for key, value in state_dict.items():
        name, dot, leaf = key.rpartition('.')
        if (dot and leaf == 'weight' and matches(name) and isinstance(value, torch.Tensor)
                and _becomes_fdconv(value, use_fdconv_if_c_gt, use_fdconv_if_k_in)):
            converted[f'{name}.dft_weight'] = conv_weight_to_dft_weight(
                value, param_ratio, param_reduction).to(value.dtype)
            names.append(name)
        else:
            converted[key] = value
    return converted, names


STATE_DICT_CONTAINER_KEYS = ('state_dict', 'model')


def convert_checkpoint_to_fdconv(checkpoint: Mapping, model_type: str, **options
                                 ) -> Tuple[dict, List[str]]:
    """:func:`convert_state_dict_to_fdconv` on a loaded checkpoint, keeping its container: a bare
    state dict, or a dict holding it under ``'state_dict'`` (mmcv/mmengine) or ``'model'`` (official
    Swin/ConvNeXt/DeiT releases); other entries (``meta``, ...) are kept. ``options``:
    ``param_ratio``, ``use_fdconv_if_c_gt``, ``use_fdconv_if_k_in``.
    Returns ``(new_checkpoint, converted_names)``."""
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f'expected a checkpoint dict, got {type(checkpoint).__name__}')
    for key in STATE_DICT_CONTAINER_KEYS:
        if isinstance(checkpoint.get(key), Mapping):
            state_dict, names = convert_state_dict_to_fdconv(checkpoint[key], model_type, **options)
            return {**checkpoint, key: state_dict}, names
    if not any(isinstance(value, torch.Tensor) for value in checkpoint.values()):
        raise ValueError(f'no state dict found: expected tensors at the top level or under one of '
                         f'{STATE_DICT_CONTAINER_KEYS}, got keys {sorted(checkpoint)[:10]}')
    return convert_state_dict_to_fdconv(checkpoint, model_type, **options)


def _becomes_fdconv(weight: torch.Tensor, use_fdconv_if_c_gt: int,
                    use_fdconv_if_k_in: Iterable[int]) -> bool:
    if weight.dim() == 2:
        out_channels, in_channels = weight.shape
        kernel = (1, 1)
    elif weight.dim() == 4:
        out_channels, in_channels = weight.shape[:2]
        kernel = tuple(weight.shape[2:])
    else:
        return False
    return uses_fdconv(in_channels, out_channels, kernel, use_fdconv_if_c_gt,
                       tuple(use_fdconv_if_k_in))


def restore_dense_weight(dft_weight: torch.Tensor, out_channels: int, in_channels: int,
                         kernel_size: int, linear: bool = False) -> torch.Tensor:
    """The dense weight a ``dft_weight`` was converted from (``(out, in)`` if ``linear``)."""
    weight = dft_weight_to_conv_weight(dft_weight, out_channels, in_channels, kernel_size)
    return weight.view(out_channels, in_channels) if linear else weight
