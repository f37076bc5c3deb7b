"""The torch releases mmfreq runs on, and the few torch APIs whose spelling changed since the
lowest one.

mmfreq's layers, models and configs run on torch ``MIN_TORCH`` (2.1) and newer, the release of
the most common OpenMMLab environment (prebuilt mmcv 2.1). Three versions matter beyond it:

* ``EXPORT_TORCH``: ``torch.export`` with ``Dim`` dynamic shapes (and the ONNX export built on it,
  ``torch.onnx.export(..., dynamo=True)``) exists and is tested from it on (its tests skip, with
  this reason, on older torch).
* ``WEIGHTS_ONLY_TORCH``: checkpoints load through torch's own ``weights_only`` unpickler (before
  it, :mod:`mmfreq.checkpoint` uses its own restricted unpickler with the same allow-list,
  refusals and opt-in).
* ``COMPILE_TORCH``: torch.compile traces FDConv / FDLinear (before it, a compiled model runs them
  eagerly: torch 2.1's dynamo fails on their dynamic weight at dynamic shapes).
"""
import re
from typing import Tuple

import torch

__all__ = ['COMPILE_TORCH', 'EXPORT_TORCH', 'MIN_TORCH', 'TORCH_VERSION', 'WEIGHTS_ONLY_TORCH',
           'autocast_dtype', 'autocast_enabled', 'is_compiling', 'is_dynamo_compiling',
           'register_load_state_dict_pre_hook']

MIN_TORCH = (2, 1)
EXPORT_TORCH = (2, 6)         # torch.export with Dim-based dynamic shapes and non-strict tracing
WEIGHTS_ONLY_TORCH = (2, 6)   # weights_only=True by default, add_safe_globals, the env opt-in
COMPILE_TORCH = (2, 6)        # FDConv traced by torch.compile (before: run eagerly inside it)


def _parse(version: str) -> Tuple[int, int]:
    found = re.match(r'(\d+)\.(\d+)', version)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


TORCH_VERSION = _parse(torch.__version__)


def _dynamo_is_compiling() -> bool:
    """Whether torch.compile (or, before torch 2.3, torch.export, which traced through dynamo)
    is tracing this code."""
    import torch._dynamo
    return torch._dynamo.is_compiling()


# torch.compiler.is_compiling: torch.compile or torch.export; is_dynamo_compiling: only the former
is_compiling = getattr(torch.compiler, 'is_compiling', _dynamo_is_compiling)
is_dynamo_compiling = getattr(torch.compiler, 'is_dynamo_compiling', _dynamo_is_compiling)


def autocast_enabled(device_type: str) -> bool:
    """Whether autocast is on for ``device_type`` ('cpu', 'cuda', ...)."""
    if TORCH_VERSION >= (2, 4):
        return torch.is_autocast_enabled(device_type)
    if device_type == 'cpu':
        return torch.is_autocast_cpu_enabled()
    return device_type == 'cuda' and torch.is_autocast_enabled()


def autocast_dtype(device_type: str) -> torch.dtype:
    """The dtype autocast casts to on ``device_type``."""
    if TORCH_VERSION >= (2, 4):
        return torch.get_autocast_dtype(device_type)
    if device_type == 'cpu':
        return torch.get_autocast_cpu_dtype()
    return torch.get_autocast_gpu_dtype()


def register_load_state_dict_pre_hook(module: torch.nn.Module, hook) -> None:
    """``module.register_load_state_dict_pre_hook(hook)``; ``hook(module, state_dict, prefix,
    local_metadata, strict, missing_keys, unexpected_keys, error_msgs)``."""
    if hasattr(module, 'register_load_state_dict_pre_hook'):
        module.register_load_state_dict_pre_hook(hook)
    else:  # torch < 2.5: the same hook, through the private spelling
        module._register_load_state_dict_pre_hook(hook, with_module=True)
