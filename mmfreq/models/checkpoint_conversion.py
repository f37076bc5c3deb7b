"""Checkpoint layouts: mmcv 1.x / mmdet 2.x release checkpoints -> mmengine / mmdet 3.x, and the
unwrapping of backbone checkpoints from other code bases.

The authors released their trained Faster / Mask R-CNN FDConv models as mmcv 1.x checkpoints
(mmdet 2.28, torch 1.11). What differs from an mmdet 3.x checkpoint of the same model:

* **Parameter names: nothing, for these detectors.** mmdet 3.0 kept the 2.x module names of
  ResNet, FPN, ``RPNHead`` (``rpn_conv`` / ``rpn_cls`` / ``rpn_reg``), ``Shared2FCBBoxHead``
  (``shared_fcs`` / ``fc_cls`` / ``fc_reg``) and ``FCNMaskHead`` (``convs`` / ``upsample`` /
  ``conv_logits``): its changelog (v3.0.0rc0) states that there is no BC-breaking of model weights
  between 2.x and 3.x, and mmdet 3.1's model zoo serves the 2.x Faster / Mask R-CNN R50-FPN
  checkpoints for its 3.x configs. (mmdet 3 did rename parts of other detectors, e.g. the DETR
  family; those are not converted here.) FDConv's names (``dft_weight``, ``KSM_Global.*``,
  ``KSM_Local.*``, ``FBM.freq_weight_conv_list.*``) follow the release by construction.
  :data:`MMDET2_TO_MMDET3_KEY_RENAMES` is therefore empty; user-given renames are applied in
  order. A key the 3.x model lacks (or the reverse) is reported by :func:`compare_with_model`,
  never silently ignored by the tool.
* **Container.** ``mmcv.runner.save_checkpoint`` wrote ``{'meta', 'state_dict', 'optimizer'}``;
  ``meta`` holds ``CLASSES`` (mmengine: ``meta['dataset_meta']['classes']``), ``mmcv_version``,
  ``mmdet_version``, ``time``, ``epoch``, ``iter``, the training run's ``config`` / ``env_info`` /
  ``seed`` / ``exp_name``, ``hook_msgs`` and, with fp16 training, the loss scaler's state
  (``meta['fp16']['loss_scaler']``). All of it is tensors and plain Python values, so it loads with
  torch's ``weights_only=True``, in the zip format and in the legacy format mmdet 2's
  ``publish_model.py`` writes. The mmcv 1.x optimizer state is useless for evaluation (and not
  resumable by mmengine); the converted file keeps the weights and a small, plain ``meta``.
* **Wrappers / dtypes.** A ``module.`` prefix (a model saved while wrapped in DDP) is removed; half
  precision tensors (a ``.half()`` model saved by mmcv 1.x fp16 training before torch 1.6) become
  float32.

:func:`compare_with_model` checks a converted state dict against a model built from a config
(missing / unexpected keys, shape mismatches); ``tools/convert_release_checkpoint.py --config``
uses it.
"""
import re
from collections import OrderedDict
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

__all__ = ['MMDET2_TO_MMDET3_KEY_RENAMES', 'extract_state_dict', 'strip_prefix',
           'rename_keys', 'convert_release_state_dict', 'convert_release_checkpoint',
           'compare_with_model']

#: ``(regex, replacement)`` key renames from mmdet 2.x to mmdet 3.x, applied with ``re.sub`` in
#: order. Empty for the detectors of this repository (see the module docstring). Extra renames can
#: be passed to :func:`convert_release_state_dict` (``--rename`` of the tool).
MMDET2_TO_MMDET3_KEY_RENAMES: Tuple[Tuple[str, str], ...] = ()

_STATE_DICT_KEYS = ('state_dict', 'model', 'module')


def extract_state_dict(checkpoint: Mapping) -> 'OrderedDict[str, torch.Tensor]':
    """The weights of a checkpoint in any common container: ``{'state_dict': ...}`` (mmcv /
    mmengine), ``{'model': ...}`` (official ConvNeXt / Swin / DeiT releases), ``{'module': ...}``
    or a bare state dict. A ``module.`` prefix on every key (a DDP-wrapped save) is removed."""
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f'expected a checkpoint dict, got {type(checkpoint).__name__}')
    state_dict = checkpoint
    for key in _STATE_DICT_KEYS:
        if isinstance(checkpoint.get(key), Mapping):
            state_dict = checkpoint[key]
            break
    tensors = OrderedDict((k, v) for k, v in state_dict.items() if isinstance(v, torch.Tensor))
    if not tensors:
        raise ValueError(f'no tensors found in the checkpoint (top-level keys: '
                         f'{sorted(checkpoint)[:10]}); expected a state dict under one of '
                         f'{_STATE_DICT_KEYS} or a bare state dict')
    if all(k.startswith('module.') for k in tensors):
        tensors = strip_prefix(tensors, 'module.')
    return tensors


def strip_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str,
                 keep_others: bool = False) -> 'OrderedDict[str, torch.Tensor]':
    """Keys starting with ``prefix``, with the prefix removed (others dropped, or kept as they are
    with ``keep_others``)."""
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith(prefix):
            out[key[len(prefix):]] = value
        elif keep_others:
            out[key] = value
    return out


def rename_keys(state_dict: Mapping[str, torch.Tensor],
                renames: Iterable[Tuple[str, str]]) -> 'OrderedDict[str, torch.Tensor]':
    """Apply ``(regex, replacement)`` renames in order to every key (``re.sub``)."""
    compiled = [(re.compile(pattern), repl) for pattern, repl in renames]
    out = OrderedDict()
    for key, value in state_dict.items():
        new_key = key
        for pattern, repl in compiled:
            new_key = pattern.sub(repl, new_key)
        if new_key in out:
            raise ValueError(f'two keys map to {new_key!r} after renaming')
        out[new_key] = value
    return out


def convert_release_state_dict(state_dict: Mapping[str, torch.Tensor],
                               renames: Optional[Sequence[Tuple[str, str]]] = None,
                               drop: Sequence[str] = (), to_float32: bool = True
                               ) -> 'OrderedDict[str, torch.Tensor]':
    """mmdet 2.x detector state dict -> mmdet 3.x: strip ``module.``, drop keys matching any regex
    of ``drop``, apply ``renames`` (default :data:`MMDET2_TO_MMDET3_KEY_RENAMES`), half ->
    float32."""
    state_dict = extract_state_dict(state_dict)
    dropped = [re.compile(p) for p in drop]
    state_dict = OrderedDict((k, v) for k, v in state_dict.items()
                             if not any(p.search(k) for p in dropped))
    state_dict = rename_keys(state_dict,
                             MMDET2_TO_MMDET3_KEY_RENAMES if renames is None else renames)
    if to_float32:
        state_dict = OrderedDict(
            (k, v.float() if v.dtype in (torch.float16, torch.bfloat16) else v)
            for k, v in state_dict.items())
    return state_dict


def _dataset_meta(classes) -> dict:
    """mmengine ``dataset_meta`` for the class names of an mmcv 1.x checkpoint (with the COCO
    palette when the names are COCO's)."""
    meta = dict(classes=tuple(classes))
    try:
        from mmdet.datasets import CocoDataset
        if tuple(classes) == tuple(CocoDataset.METAINFO['classes']):
            meta['palette'] = list(CocoDataset.METAINFO['palette'])
    except ImportError:  # pragma: no cover - mmdet is part of the stack
        pass
    return meta


def convert_release_checkpoint(checkpoint: Mapping, source: str = '',
                               renames: Optional[Sequence[Tuple[str, str]]] = None,
                               drop: Sequence[str] = (), to_float32: bool = True) -> dict:
    """An mmcv 1.x (mmdet 2.x) checkpoint -> an mmengine (mmdet 3.x) checkpoint
    ``{'meta': {...}, 'state_dict': ...}`` holding only tensors and plain Python values (so it
    loads with ``weights_only=True``). ``meta['CLASSES']`` becomes ``meta['dataset_meta']``; the
    optimizer state and the run bookkeeping are dropped; ``source`` is recorded."""
    state_dict = convert_release_state_dict(checkpoint, renames=renames, drop=drop,
                                            to_float32=to_float32)
    old_meta = checkpoint.get('meta') if isinstance(checkpoint, Mapping) else None
    old_meta = old_meta if isinstance(old_meta, Mapping) else {}
    meta = dict(converted_by='mmfreq tools/convert_release_checkpoint.py')
    if source:
        meta['converted_from'] = str(source)
    for key in ('mmdet_version', 'mmcv_version', 'epoch', 'iter'):
        value = old_meta.get(key)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            meta[f'source_{key}'] = value
    classes = old_meta.get('CLASSES')
    dataset_meta = old_meta.get('dataset_meta')
    if isinstance(dataset_meta, Mapping) and dataset_meta.get('classes') is not None:
        meta['dataset_meta'] = _dataset_meta([str(c) for c in dataset_meta['classes']])
    elif classes is not None:
        meta['dataset_meta'] = _dataset_meta([str(c) for c in classes])
    return dict(meta=meta, state_dict=state_dict)


def compare_with_model(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> Dict[str, List]:
    """Keys of ``state_dict`` against ``model.state_dict()``: ``missing`` (in the model only),
    ``unexpected`` (in the state dict only) and ``shape_mismatch`` (``(key, ckpt, model)``)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatch = [(k, tuple(v.shape), tuple(expected[k].shape)) for k, v in state_dict.items()
                if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    return dict(missing=missing, unexpected=unexpected, shape_mismatch=mismatch)
