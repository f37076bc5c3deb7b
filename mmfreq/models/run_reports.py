"""What an mm run reports about FDConv (Chen et al., CVPR 2025), each once, in the run's log:

* **Dense weights converted on load.** mmengine's ``load_state_dict`` (behind ``init_cfg``
  Pretrained, ``load_from``, ``--resume`` and ``load_checkpoint``) runs in one
  :func:`~mmfreq.layers.dense_weight_loading.conversion_report`, so a plain checkpoint loaded into
  FDConv layers gives one WARNING naming how many were converted.
* **Dynamic parameters frozen at build.** A backbone's ``frozen_stages`` (or anything that sets
  ``requires_grad=False``) also freezes the KSM / FBM parameters of its FDConv layers, which the
  authors keep trainable (``need_grad_list``). When a model registry builds a model (``MODELS.build``
  of any codebase, which the Runner calls too), :func:`warn_frozen_dynamic_parameters` says so once
  and names the options that keep them trainable. Only the outermost build is checked: the parts a
  model builds for itself (its backbone, the inner backbone of ``FDConvBackbone``) are checked as
  part of the whole, after the whole has set ``requires_grad``.

Both wrap an mmengine function (``mmengine.runner.checkpoint.load_state_dict``, the model
registries' ``build_model_from_cfg``) once, when ``import mmfreq`` registers its modules. Registries
created later inherit the wrapped build function from their parent.
"""
import contextlib
import functools
import logging
import threading
from typing import Iterator, List

from mmengine.logging import print_log
from mmengine.registry import MODELS, Registry
from mmengine.runner import checkpoint as mm_checkpoint
from torch import nn

from ..layers import FDConv, FDLinear
from ..layers.dense_weight_loading import conversion_report

__all__ = ['frozen_dynamic_parameters', 'warn_frozen_dynamic_parameters', 'part_of_a_build',
           'DYNAMIC_PARAMETER_PREFIXES']

#: names (inside an FDConv / FDLinear) of the parameters the authors' ``need_grad_list``
#: keeps trainable in frozen stages
DYNAMIC_PARAMETER_PREFIXES = ('KSM_Global.', 'KSM_Local.', 'FBM.')


def _warn(message: str) -> None:
    print_log(message, logger='current', level=logging.WARNING)


def frozen_dynamic_parameters(model: nn.Module) -> List[str]:
    """Names of the KSM / FBM parameters of dynamic FDConv / FDLinear layers in ``model`` with
    ``requires_grad=False``."""
    frozen = []
    for layer_name, layer in model.named_modules():
        if isinstance(layer, (FDConv, FDLinear)) and layer.is_fdconv:
            frozen += [f'{layer_name}.{name}' for name, param in layer.named_parameters()
                       if name.startswith(DYNAMIC_PARAMETER_PREFIXES) and not param.requires_grad]
    return frozen


def warn_frozen_dynamic_parameters(model: nn.Module) -> List[str]:
    """One warning when ``model`` has frozen KSM / FBM parameters (returns their names)."""
    frozen = frozen_dynamic_parameters(model)
    if frozen:
        layers = sorted({name.split('.KSM_')[0].split('.FBM.')[0] for name in frozen})
        _warn(f'mmfreq: {len(frozen)} dynamic parameters (KSM / FBM) of {len(layers)} FDConv/'
              f'FDLinear layers are frozen (requires_grad=False, e.g. by frozen_stages), so they '
              f'will not train: {", ".join(layers[:3])}{", ..." if len(layers) > 3 else ""}. To '
              f"keep them trainable in frozen stages as the authors do, build the backbone as "
              f"dict(type='FDConvBackbone', backbone=<this backbone>, need_grad_list=['KSM', "
              f"'FBM']), or use ResNetFDConv with need_grad_list=['KSM', 'FBM'].")
    return frozen


def _wrap_once(owner, name: str, make):
    original = getattr(owner, name)
    if getattr(original, '_mmfreq_reports', False):
        return
    wrapper = functools.wraps(original)(make(original))
    wrapper._mmfreq_reports = True
    setattr(owner, name, wrapper)


def _reporting_load_state_dict(original):
    def load_state_dict(module, state_dict, strict=False, logger=None):
        with conversion_report(emit=_warn):
            return original(module, state_dict, strict, logger)
    return load_state_dict


_builds = threading.local()  # how many model builds are running in this thread


@contextlib.contextmanager
def part_of_a_build() -> Iterator[None]:
    """Model builds inside this block build parts of a larger model: the frozen-parameter check
    waits for the outermost build (a module that builds its parts itself, outside a registry
    build, says so with this block)."""
    depth = getattr(_builds, 'depth', 0)
    _builds.depth = depth + 1
    try:
        yield
    finally:
        _builds.depth = depth


def _checking_build(original):
    def build_model_from_cfg(cfg, registry, default_args=None):
        outermost = getattr(_builds, 'depth', 0) == 0
        with part_of_a_build():
            model = original(cfg, registry, default_args)
        if outermost and isinstance(model, nn.Module):
            warn_frozen_dynamic_parameters(model)
        return model
    return build_model_from_cfg


def _registry_tree(root: Registry) -> Iterator[Registry]:
    yield root
    for child in root.children.values():
        yield from _registry_tree(child)


def _wrap_model_builds() -> None:
    original = MODELS.build_func
    if getattr(original, '_mmfreq_reports', False):
        return
    wrapper = functools.wraps(original)(_checking_build(original))
    wrapper._mmfreq_reports = True
    for registry in _registry_tree(MODELS):  # the codebases' model registries built so far
        if registry.build_func is original:
            registry.build_func = wrapper


# _load_checkpoint_to_model (every mmengine load) calls the module's load_state_dict
_wrap_once(mm_checkpoint, 'load_state_dict', _reporting_load_state_dict)
_wrap_model_builds()
