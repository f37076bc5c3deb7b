"""``FDConvBackbone``: FDConv / FDLinear (Chen et al., "Frequency Dynamic Convolution for Dense
Image Prediction", CVPR 2025) in any backbone of any installed codebase, including backbones
without a ``conv_cfg`` argument (mmyolo's ``YOLOv8CSPDarknet``) and transformers (FDLinear in
Swin's MLPs).

The inner backbone is built from its config in the current scope, then its chosen ``nn.Conv2d`` /
``nn.Linear`` layers are replaced by FDConv / FDLinear carrying their weights
(:func:`~mmfreq.layers.fdconv_conversion.fdconv_from_conv`). The inner ``init_cfg`` (e.g. a
Pretrained plain ImageNet checkpoint) runs later, on the replaced layers, whose dense weights are
converted on load (``mmfreq.layers.dense_weight_loading``).
"""
import re
from typing import Dict, List, Optional, Sequence, Union

from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import nn

from ..layers import FDConv, FDLinear
from ..layers.dense_weight_loading import report_conversions_of
from ..layers.fdconv_conversion import fdconv_from_conv
from ..layers.fdconv_options import resolve_fdconv_options
from ..layers.frequency_dynamic import uses_fdconv
from .resnet_fdconv import DEFAULT_NEED_GRAD_LIST, keep_trainable_
from .run_reports import part_of_a_build

__all__ = ['FDConvBackbone', 'stage_module_name', 'LAYER_KEYS']

LAYER_KEYS = ('names', 'stages', 'kernel_sizes')
INNER = 'backbone'


def stage_module_name(backbone: nn.Module, stage: int) -> str:
    """Name of stage ``stage`` (1-based, as ``frozen_stages`` counts) of an mm backbone:
    ``layer{i}`` (ResNet), ``stage{i}`` (CSPDarknet, CSPNeXt, YOLOv8CSPDarknet),
    ``stages.{i-1}`` (Swin, ConvNeXt) or ``layers.{i-1}`` (ViT-style)."""
    modules = dict(backbone.named_modules())
    found = [name for name in (f'layer{stage}', f'stage{stage}', f'stages.{stage - 1}',
                               f'layers.{stage - 1}') if name in modules]
    if len(found) != 1:
        raise ValueError(f'FDConvBackbone: cannot tell stage {stage} of '
                         f'{type(backbone).__name__}: expected one submodule named layer{stage}, '
                         f'stage{stage}, stages.{stage - 1} or layers.{stage - 1}, found '
                         f'{found or "none"}; select its layers with layers.names instead')
    return found[0]


def _as_list(value, what: str) -> Optional[list]:
    if value is None:
        return None
    values = [value] if isinstance(value, (str, int)) else list(value)
    if not values:
        raise ValueError(f'FDConvBackbone: layers.{what} must not be empty (leave it out to '
                         f'select every layer)')
    return values


def _kernel_size(layer: nn.Module):
    return (1, 1) if isinstance(layer, nn.Linear) else tuple(layer.kernel_size)


def _candidates(backbone: nn.Module) -> Dict[str, nn.Module]:
    """The plain convs and linears (torch's classes and mmcv's same-named wrappers) and the
    FDConv / FDLinear layers a ``conv_cfg`` built already, without the layers inside those."""
    found, inside = {}, ()
    for name, m in backbone.named_modules():
        if inside and name.startswith(inside):
            continue
        if isinstance(m, (FDConv, FDLinear)):
            inside += (name + '.', )
            found[name] = m
        elif isinstance(m, (nn.Conv2d, nn.Linear)) and type(m).__name__ in ('Conv2d', 'Linear'):
            found[name] = m
    return found


class FDConvBackbone(BaseModule):
    """Any backbone with FDConv / FDLinear in the layers chosen by name, stage and kernel size.

    Args:
        backbone (dict): config of the inner backbone, built in the current scope (or a scoped
            type such as ``'mmyolo.YOLOv8CSPDarknet'``) with its own arguments (``frozen_stages``,
            ``init_cfg``, ...).
        layers (dict): which ``nn.Conv2d`` / ``nn.Linear`` of the inner backbone become dynamic;
            a layer must meet every criterion given:

            * ``names``: regex or list of regexes; one must match the layer's full name inside
              the inner backbone (``re.fullmatch``), e.g. ``r'layer\\d\\.\\d+\\.conv[123]'``.
            * ``stages``: 1-based stage numbers (as ``frozen_stages`` counts them), e.g.
              ``[2, 3, 4]``; see :func:`stage_module_name`.
            * ``kernel_sizes``: square kernel sizes (a linear counts as 1); default
              ``fdconv_cfg['use_fdconv_if_k_in']`` (release: ``[1, 3]``).

            Layers with ``min(in, out) <= use_fdconv_if_c_gt`` (16) stay plain, as FDConv's
            fallback rule has it. A ``names`` regex or a stage without a single chosen layer, a
            choice without any dynamic layer, and a chosen layer FDConv cannot make dynamic
            (``groups > 1``, ``padding_mode`` other than zeros, a non-square kernel) are errors
            naming the layer, raised here, when the model is built.
        fdconv_cfg (dict): FDConv / FDLinear options (``help(FDConv)``; ``type='FDConv'`` may be
            given), e.g. ``dict(kernel_num=64)``.
        need_grad_list (Sequence[str]): name fragments of the replaced layers' parameters that
            stay trainable when the inner backbone freezes stages (``frozen_stages``), also after
            every ``train()``: the authors' ``need_grad_list`` semantics, frozen Fourier weight
            and bias, trainable attention (default ``['KSM', 'FBM']``; ``[]``: freeze all).
            Frozen stages stay in eval mode, so their KSM BatchNorms use running statistics.
        init_cfg (dict, optional): initialisation of the wrapper, in the inner backbone's key
            layout.

    The state dict has the inner backbone's own layout (no extra ``backbone.`` level), so
    checkpoints of the plain model (a stock detector's ``backbone.*``) and of this one are
    interchangeable, the plain ones converted on load. Input ``(B, 3, H, W)``; output that of the
    inner backbone.
    """

    def __init__(self, backbone: dict, layers: Optional[dict] = None,
                 fdconv_cfg: Optional[dict] = None,
                 need_grad_list: Sequence[str] = DEFAULT_NEED_GRAD_LIST,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg)
        if not isinstance(backbone, dict) or 'type' not in backbone:
            raise ValueError(f'FDConvBackbone: backbone must be a config dict with a "type", got '
                             f'{backbone!r}')
        if isinstance(need_grad_list, str) or not all(isinstance(k, str) for k in need_grad_list):
            raise ValueError(f'FDConvBackbone: need_grad_list must be a list of strings (e.g. '
                             f"['KSM', 'FBM']), got {need_grad_list!r}")
        self.need_grad_list = tuple(need_grad_list)
        self.fdconv_cfg = self._layer_options(fdconv_cfg, layers or {})
        with part_of_a_build():  # checked for frozen dynamic parameters as part of the wrapper
            setattr(self, INNER, MODELS.build(backbone))
        self.fdconv_layers = self._replace_layers(layers or {})
        report_conversions_of(self)
        self.register_state_dict_post_hook(_flat_state_dict)
        self.register_load_state_dict_post_hook(_flat_incompatible_keys)

    @staticmethod
    def _layer_options(fdconv_cfg: Optional[dict], layers: dict) -> dict:
        options = dict(fdconv_cfg or {})
        if options.pop('type', 'FDConv') not in ('FDConv', 'FDLinear'):
            raise ValueError(f"FDConvBackbone: fdconv_cfg.type must be 'FDConv' (or left out), "
                             f'got {fdconv_cfg["type"]!r}')
        unknown = sorted(set(layers) - set(LAYER_KEYS))
        if unknown:
            raise ValueError(f'FDConvBackbone: unknown layers keys {unknown}; allowed: '
                             f'{list(LAYER_KEYS)}')
        kernel_sizes = _as_list(layers.get('kernel_sizes'), 'kernel_sizes')
        if kernel_sizes is not None:
            given = options.setdefault('use_fdconv_if_k_in', kernel_sizes)
            if sorted(given) != sorted(kernel_sizes):
                raise ValueError(f'FDConvBackbone: layers.kernel_sizes={kernel_sizes} and '
                                 f'fdconv_cfg.use_fdconv_if_k_in={list(given)} disagree; give one')
        resolve_fdconv_options('FDConv', **options)  # bad options fail here, naming the option
        return options

    def _chosen(self, layers: dict) -> Dict[str, nn.Module]:
        inner = getattr(self, INNER)
        chosen = _candidates(inner)
        kind = type(inner).__name__
        names = _as_list(layers.get('names'), 'names')
        if names is not None:
            patterns = [re.compile(p) for p in names]
            for pattern in patterns:
                if not any(pattern.fullmatch(n) for n in chosen):
                    raise ValueError(f'FDConvBackbone: layers.names {pattern.pattern!r} matches '
                                     f'no nn.Conv2d / nn.Linear of {kind}; they are named like '
                                     f'{list(chosen)[:6]}')
            chosen = {n: m for n, m in chosen.items() if any(p.fullmatch(n) for p in patterns)}
        stages = _as_list(layers.get('stages'), 'stages')
        if stages is not None:
            prefixes = {stage: stage_module_name(inner, stage) + '.' for stage in stages}
            for stage, prefix in prefixes.items():
                if not any(n.startswith(prefix) for n in chosen):
                    raise ValueError(f'FDConvBackbone: stage {stage} ({prefix[:-1]}) of {kind} '
                                     f'has no nn.Conv2d / nn.Linear that layers.names chooses')
            chosen = {n: m for n, m in chosen.items()
                      if n.startswith(tuple(prefixes.values()))}
        return chosen

    def _replace_layers(self, layers: dict) -> List[str]:
        inner = getattr(self, INNER)
        options = resolve_fdconv_options('FDConv', **self.fdconv_cfg)
        replaced = []
        for name, layer in self._chosen(layers).items():
            if isinstance(layer, (FDConv, FDLinear)):
                if layer.is_fdconv:  # built by the inner conv_cfg: only need_grad_list applies
                    keep_trainable_(layer, self.need_grad_list)
                    replaced.append(name)
                continue
            k = _kernel_size(layer)
            if k[0] in options.use_fdconv_if_k_in and k[0] != k[1]:
                raise ValueError(f'FDConvBackbone: layer {name!r} ({layer}) has a non-square '
                                 f'kernel, which FDConv cannot make dynamic; exclude it with '
                                 f'layers.names')
            channels = (layer.in_features, layer.out_features) if isinstance(layer, nn.Linear) \
                else (layer.in_channels, layer.out_channels)
            if not uses_fdconv(*channels, k, options.use_fdconv_if_c_gt,
                               options.use_fdconv_if_k_in):
                continue  # FDConv's fallback rule: the layer would be the plain one anyway
            try:
                new = fdconv_from_conv(layer, **self.fdconv_cfg)
            except ValueError as error:
                raise ValueError(f'FDConvBackbone: layer {name!r} ({layer}) cannot become '
                                 f'dynamic: {error}') from None
            # the inner backbone froze its stages before: the Fourier weight and bias stay
            # frozen where the dense ones were, KSM / FBM too except for need_grad_list
            for param_name, param in new.named_parameters():
                source = layer.bias if param_name == 'bias' else layer.weight
                param.requires_grad = source.requires_grad
            keep_trainable_(new, self.need_grad_list)
            parent, _, child = name.rpartition('.')
            setattr(inner.get_submodule(parent) if parent else inner, child, new)
            replaced.append(name)
        if not replaced:
            raise ValueError(
                f'FDConvBackbone: layers={layers} chooses no layer of {type(inner).__name__} '
                f'that FDConv makes dynamic (kernel size in {list(options.use_fdconv_if_k_in)} '
                f'and min(in, out) > {options.use_fdconv_if_c_gt})')
        return replaced

    def _replaced_modules(self):
        inner = getattr(self, INNER)
        return [inner.get_submodule(name) for name in self.fdconv_layers]

    def train(self, mode: bool = True):
        """The inner backbone's ``train`` (which re-freezes its frozen stages), then
        ``need_grad_list`` made trainable again in the replaced layers."""
        super().train(mode)
        for layer in self._replaced_modules():
            keep_trainable_(layer, self.need_grad_list)
        return self

    def forward(self, x):
        return getattr(self, INNER)(x)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # the flat layout of state_dict() back into the module tree
        self._load_prefix = prefix
        for key in [k for k in state_dict if k.startswith(prefix)]:
            state_dict[f'{prefix}{INNER}.{key[len(prefix):]}'] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


def _flat_state_dict(module, state_dict, prefix, local_metadata) -> None:
    """``<prefix>backbone.<key>`` -> ``<prefix><key>`` (the inner backbone's own layout); the
    module's keys are the last ones written, so they keep their place."""
    inner = f'{prefix}{INNER}.'
    for key in [k for k in state_dict if k.startswith(inner)]:
        state_dict[prefix + key[len(inner):]] = state_dict.pop(key)



def _flat_incompatible_keys(module, incompatible_keys) -> None:
    """Missing and unexpected keys of a load named in the flat layout, as in the checkpoint."""
    inner = f'{module._load_prefix}{INNER}.'
    for keys in incompatible_keys:
        keys[:] = [module._load_prefix + k[len(inner):] if k.startswith(inner) else k
                   for k in keys]


MODELS.register_module(name='FDConvBackbone', module=FDConvBackbone)
