"""Layer-wise learning-rate decay for ViT backbones, with per-key multipliers (FDAM recipe).

:class:`ViTLayerDecayOptimizerConstructor` (an mmengine optimizer-wrapper constructor, usable from
mmseg / mmdet / mmrotate configs) gives every parameter::

    lr           = base_lr * layer_decay_rate ** (num_layers + 1 - layer_id) * lr_mult
    weight_decay = base_wd * decay_mult * (flat_decay_mult if the parameter is 1-D)

``layer_id`` (BEiT convention, ``num_layers + 2`` ids):

* 0: ``backbone.patch_embed.*``, ``backbone.pos_embed``, ``backbone.cls_token``,
  ``backbone.mask_token`` (the embedding);
* ``N + 1``: ``backbone.blocks.N.*`` (timm / DeiT / release naming) or ``backbone.layers.N.*``
  (mmseg ``VisionTransformer`` / BEiT naming);
* ``num_layers + 1``: everything else (final norms, necks, ``backbone.fpn*``, heads): full lr.

``lr_mult`` / ``decay_mult`` come from ``custom_keys`` with mmengine's rule: the longest key that
is a substring of the parameter's full name (``backbone.blocks.0.freq_scale_1.complex_weights``)
wins (ties: alphabetical). ``flat_decay_mult`` (mmengine's name; default 1) scales the weight
decay of every 1-D parameter (biases, norms, layer scales, AttInv gammas). The FDAM release recipe
(docs/fdam.md, "Training recipe") is::

    optim_wrapper = dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
        constructor='ViTLayerDecayOptimizerConstructor',
        paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.95, flat_decay_mult=0.,
                           custom_keys={'freq_scale': dict(lr_mult=2.),
                                        'pos_embed': dict(decay_mult=0.),
                                        'norm': dict(decay_mult=0.)}))

Parameters sharing ``(lr, weight_decay)`` share one param group (groups in order of first
appearance, parameters in ``named_parameters`` order), so checkpoints resume deterministically.
"""
import re
from typing import List

from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

__all__ = ['ViTLayerDecayOptimizerConstructor', 'vit_layer_id']

PARAMWISE_KEYS = ('num_layers', 'layer_decay_rate', 'flat_decay_mult', 'custom_keys')
CUSTOM_KEY_FIELDS = ('lr_mult', 'decay_mult')
EMBEDDING_NAMES = ('backbone.pos_embed', 'backbone.cls_token', 'backbone.mask_token')
_BLOCK = re.compile(r'^backbone\.(?:blocks|layers)\.(\d+)\.')


def vit_layer_id(name: str, num_layers: int) -> int:
    """Layer id of a parameter name (module docstring); ``num_layers + 1`` for non-backbone."""
    if name in EMBEDDING_NAMES or name.startswith('backbone.patch_embed.'):
        return 0
    match = _BLOCK.match(name)
    if match:
        block = int(match.group(1))
        if block >= num_layers:
            raise ValueError(f'parameter {name} is in block {block}, but paramwise_cfg.num_layers '
                             f'is {num_layers}')
        return block + 1
    return num_layers + 1


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ViTLayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Layer-wise lr decay + ``custom_keys`` multipliers; see the module docstring.

    ``paramwise_cfg`` keys: ``num_layers`` (int >= 1, the number of blocks), ``layer_decay_rate``
    (float in (0, 1]), optional ``flat_decay_mult`` (number >= 0, default 1) and optional
    ``custom_keys`` (dict key -> dict(lr_mult=..., decay_mult=...)).
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg=None):
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = sorted(set(paramwise_cfg) - set(PARAMWISE_KEYS))
        if unknown:
            raise ValueError(f'paramwise_cfg has unknown keys {unknown}; allowed: {PARAMWISE_KEYS}')
        num_layers = paramwise_cfg.get('num_layers')
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f'paramwise_cfg.num_layers must be a positive int, got {num_layers!r}')
        rate = paramwise_cfg.get('layer_decay_rate')
        if not _is_number(rate) or not 0 < rate <= 1:
            raise ValueError(f'paramwise_cfg.layer_decay_rate must be a number in (0, 1], '
                             f'got {rate!r}')
        flat_decay_mult = paramwise_cfg.get('flat_decay_mult', 1.)
        if not _is_number(flat_decay_mult) or flat_decay_mult < 0:
            raise ValueError(f'paramwise_cfg.flat_decay_mult must be a number >= 0, '
                             f'got {flat_decay_mult!r}')
        custom_keys = paramwise_cfg.get('custom_keys', {})
        if not isinstance(custom_keys, dict):
            raise ValueError(f'paramwise_cfg.custom_keys must be a dict, got {custom_keys!r}')
        for key, fields in custom_keys.items():
            if not isinstance(fields, dict) or set(fields) - set(CUSTOM_KEY_FIELDS) \
                    or not all(_is_number(v) and v >= 0 for v in fields.values()):
                raise ValueError(f'paramwise_cfg.custom_keys[{key!r}] must be a dict with numbers '
                                 f'>= 0 for keys from {CUSTOM_KEY_FIELDS}, got {fields!r}')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        self.num_layers = num_layers
        self.layer_decay_rate = float(rate)
        self.flat_decay_mult = float(flat_decay_mult)
        self.custom_keys = custom_keys
        # mmengine's precedence: longest key first, ties alphabetical
        self.sorted_keys = sorted(sorted(custom_keys), key=len, reverse=True)

    def param_settings(self, name: str, ndim: int = 2):
        """``(layer_id, lr, weight_decay)`` of the ``ndim``-D parameter called ``name``."""
        layer_id = vit_layer_id(name, self.num_layers)
        scale = self.layer_decay_rate ** (self.num_layers + 1 - layer_id)
        fields = next((self.custom_keys[k] for k in self.sorted_keys if k in name), {})
        lr = self.base_lr * scale * fields.get('lr_mult', 1.)
        weight_decay = (self.base_wd or 0.) * fields.get('decay_mult', 1.)
        if ndim == 1:
            weight_decay *= self.flat_decay_mult
        return layer_id, lr, weight_decay

    def add_params(self, params: List[dict], module: nn.Module, prefix: str = '', **kwargs):
        groups = {}
        for name, param in module.named_parameters(prefix=prefix):
            _, lr, weight_decay = self.param_settings(name, param.dim())
            group = groups.get((lr, weight_decay))
            if group is None:
                group = groups[(lr, weight_decay)] = dict(params=[], lr=lr,
                                                          weight_decay=weight_decay)
                params.append(group)
            group['params'].append(param)
