"""What mmfreq's layers do with their inputs before their own maths: the checks and special cases
that make them drop-ins for the torch layers they replace (unbatched input, an empty batch, a
wrong channel count, float32 regions under autocast, the meta device)."""
import contextlib

import torch
from torch import nn

from .torch_support import autocast_dtype, autocast_enabled

__all__ = ['autocast_off', 'autocast_state', 'check_channels', 'empty_batch_output']


def autocast_off(device: torch.device):
    """A region without autocast on ``device`` (FFTs stay in float32); nothing on the meta
    device, where autocast does not exist."""
    if device.type == 'meta':
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, enabled=False)


def autocast_state(device: torch.device):
    """``(device type, enabled, dtype)`` of autocast on ``device``, to re-enter it later."""
    if device.type == 'meta':
        return device.type, False, torch.float32
    return device.type, autocast_enabled(device.type), autocast_dtype(device.type)


def check_channels(layer: str, x: torch.Tensor, expected: int, dim: int) -> None:
    """Refuse an input whose channel dimension ``dim`` is not ``expected``."""
    if x.shape[dim] != expected:
        raise ValueError(f'{layer} expected input{list(x.shape)} to have {expected} channels '
                         f'(dimension {dim % x.dim()}), got {x.shape[dim]}')


def empty_batch_output(module: nn.Module, x: torch.Tensor, shape) -> torch.Tensor:
    """The output of an empty batch: zeros of ``shape`` (no element), connected to ``x`` and to
    every parameter so that backward gives them the zero gradients a torch layer gives."""
    anchor = x.sum() + sum(p.sum() for p in module.parameters() if p.requires_grad)
    return x.new_zeros(shape) + (anchor * 0).to(x.dtype)
