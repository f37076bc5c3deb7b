"""Converting a plain checkpoint's dense ``weight`` to FDConv's ``dft_weight`` while it loads (Chen
et al., "Frequency Dynamic Convolution for Dense Image Prediction", CVPR 2025; docs/fdconv.md,
"Pretrained conversion").

A plain conv / linear checkpoint (ImageNet weights, a stock detector) holds ``<layer>.weight``
``(out, in, k, k)`` (linear: ``(out, in)``) where a dynamic FDConv / FDLinear holds
``<layer>.dft_weight``. Every load path (``load_state_dict``, mmengine's ``init_cfg`` Pretrained,
``load_from``, ``load_checkpoint``) calls each module's ``_load_from_state_dict``; FDConv's replaces
such a ``weight`` by :func:`conv_weight_to_dft_weight` of it, the function that
``tools/convert_to_fdconv.py`` applies, before the keys are matched. So strict loading still fails
on what is truly missing (KSM / FBM of a plain checkpoint) or unexpected.

One WARNING per load names how many layers were converted: the conversions of one load are
collected by :func:`conversion_report` scopes, and the outermost scope reports them when it ends.
A scope is opened by each FDConv / FDLinear while it loads, by modules that call
:func:`report_conversions_of` (``FDConvBackbone``), and by mmfreq around mmengine's
``load_state_dict`` (``mmfreq.models.run_reports``), so an mm load reports once, as do
``load_state_dict`` calls on those modules.
"""
import contextlib
import logging
import threading
from typing import Callable, List, Optional

import torch
from torch import nn

from .fourier_disjoint import conv_weight_to_dft_weight
from .torch_support import register_load_state_dict_pre_hook

__all__ = ['conversion_report', 'conversion_message', 'convert_dense_weight_',
           'report_conversions_of']

logger = logging.getLogger('mmfreq')
_state = threading.local()


def conversion_message(names: List[str]) -> str:
    """The one line that reports the layers ``names`` converted by a load."""
    shown = ', '.join(names[:3]) + (f', ... ({len(names) - 3} more)' if len(names) > 3 else '')
    return (f'mmfreq: converted the dense `weight` of {len(names)} FDConv/FDLinear layer(s) to '
            f'`dft_weight` while loading a plain checkpoint (as tools/convert_to_fdconv.py '
            f'would): {shown}')


class _Report:
    def __init__(self, emit: Callable[[str], None], load: Optional[list]):
        self.emit, self.load, self.depth, self.names = emit, load, 0, []


def _enter(emit: Optional[Callable[[str], None]] = None, load: Optional[list] = None) -> _Report:
    report = getattr(_state, 'report', None)
    if report is not None and load is not None and report.load is not None \
            and report.load is not load:
        _flush(report)  # left open by a load that raised half-way; a new load has started
        report = None
    if report is None:
        report = _state.report = _Report(emit or logger.warning, load)
    elif report.load is None:
        report.load = load
    report.depth += 1
    return report


def _exit() -> None:
    report = getattr(_state, 'report', None)
    if report is None:
        return
    report.depth -= 1
    if report.depth <= 0:
        _flush(report)


def _flush(report: _Report) -> None:
    _state.report = None
    if report.names:
        report.emit(conversion_message(report.names))


@contextlib.contextmanager
def conversion_report(emit: Optional[Callable[[str], None]] = None, load: Optional[list] = None):
    """Collect the dense-weight conversions inside; the outermost scope reports them, as one
    ``emit(message)`` (default: a WARNING of the ``mmfreq`` logger). ``load`` is the
    ``missing_keys`` list of the load being run (one list per ``load_state_dict`` call)."""
    _enter(emit, load)
    try:
        yield
    finally:
        _exit()


def _pre_hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
              error_msgs) -> None:
    _enter(load=missing_keys)


def _post_hook(module, incompatible_keys) -> None:
    _exit()


def report_conversions_of(module: nn.Module) -> None:
    """Make every ``load_state_dict`` of ``module`` report the conversions inside it as one
    warning (module-level hooks: the module stays picklable)."""
    register_load_state_dict_pre_hook(module, _pre_hook)
    module.register_load_state_dict_post_hook(_post_hook)


def convert_dense_weight_(layer: nn.Module, state_dict: dict, prefix: str,
                          error_msgs: List[str]) -> None:
    """In ``state_dict`` (the one ``_load_from_state_dict`` may modify), replace a dynamic
    ``layer``'s dense ``<prefix>weight`` by ``<prefix>dft_weight`` when the checkpoint has no
    ``dft_weight`` of its own; a dense weight of the wrong shape is an error, as for a plain conv.
    The layer is recorded in the current :func:`conversion_report`."""
    key = prefix + 'weight'
    if key not in state_dict or prefix + 'dft_weight' in state_dict:
        return
    weight = state_dict[key]
    if not isinstance(weight, torch.Tensor):
        return  # torch's own check reports it
    out_channels, in_channels, k, _ = layer._fd_weight_shape()
    shapes = [(out_channels, in_channels, k, k)] + ([(out_channels, in_channels)] if k == 1 else [])
    if tuple(weight.shape) not in shapes:
        error_msgs.append(f'size mismatch for {key}: copying a dense weight of shape '
                          f'{tuple(weight.shape)} from the checkpoint into a dynamic '
                          f'{type(layer).__name__} that converts one of shape {shapes[0]}.')
        del state_dict[key]
        return
    state_dict[prefix + 'dft_weight'] = conv_weight_to_dft_weight(
        weight, layer.param_ratio, layer.fd_options.param_reduction).to(weight.dtype)
    del state_dict[key]
    report = getattr(_state, 'report', None)
    if report is not None:
        report.names.append(prefix[:-1] or type(layer).__name__)
