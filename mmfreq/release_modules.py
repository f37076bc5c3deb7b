"""Import the authors' released modules from a checkout the user names, to compare mmfreq with
them (docs/release-parity.md). Nothing of the releases is part of this package: their files are
executed from the given path, with the few third-party names today's stack lacks (mmcv 1.x's
``CONV_LAYERS`` registry, timm's ``trunc_normal_``) stubbed for the import only."""
import contextlib
import importlib.util
import os
import sys
import types
from pathlib import Path
from typing import Optional

import torch

__all__ = ['RELEASE_DIR_ENV', 'FDCONV_RELEASE_MODULE', 'release_checkout', 'load_release_fdconv',
           'load_release_file', 'stubbed_imports', 'swapped_modules', 'NoOpRegistry',
           'extended_module', 'DYNCONV_REFERENCE_ENV', 'DYNCONV_REFERENCE_FILES',
           'load_dynconv_reference']

RELEASE_DIR_ENV = 'MMFREQ_RELEASE_DIR'
FDCONV_RELEASE_MODULE = Path('FDConv_detection') / 'mmdet_custom' / 'FDConv.py'
# the comparison methods' PyTorch reference code (docs/dynamic-convs.md): method -> (file in its
# checkout, repository); checkouts listed in $MMFREQ_DYNCONV_REFERENCE_DIR (os.pathsep-separated)
DYNCONV_REFERENCE_ENV = 'MMFREQ_DYNCONV_REFERENCE_DIR'
DYNCONV_REFERENCE_FILES = {
    'DynamicConv2d': (Path('dynamic_conv.py'), 'kaijieshi7/Dynamic-convolution-Pytorch'),
    'DCDConv2d': (Path('models') / 'imagenet' / 'resnet_dcd.py', 'liyunsheng13/dcd'),
    'ODConv2d': (Path('modules') / 'odconv.py', 'OSVAI/ODConv'),
    'KWConv2d': (Path('modules') / 'kernel_warehouse.py', 'OSVAI/KernelWarehouse'),
}


def release_checkout(marker: Path, paths: Optional[str] = None) -> Optional[Path]:
    """The first of ``paths`` (default: ``$MMFREQ_RELEASE_DIR``, several separated by
    ``os.pathsep``) that holds the file ``marker``, or None."""
    paths = os.environ.get(RELEASE_DIR_ENV, '') if paths is None else paths
    for path in filter(None, paths.split(os.pathsep)):
        if (Path(path) / marker).is_file():
            return Path(path)
    return None


class NoOpRegistry:
    """mmcv 1.x / mmseg 0.x registry stand-in: ``register_module`` returns the class as is, so
    release code registers nothing into the real registries."""

    def register_module(self, *args, **kwargs):
        return (lambda cls: cls) if not args or not isinstance(args[0], type) else args[0]


def extended_module(name: str, **attrs) -> types.ModuleType:
    """The real module ``name`` seen through a new module object that also has ``attrs``."""
    real = importlib.import_module(name)
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    module.__getattr__ = lambda attr: getattr(real, attr)
    return module


@contextlib.contextmanager
def stubbed_imports():
    """Provide ``mmcv.cnn.CONV_LAYERS`` and ``timm.models.layers.trunc_normal_`` where missing,
    for the duration of an import of release code; ``sys.modules`` is restored afterwards."""
    stubs = {}
    try:
        import mmcv.cnn
        if not hasattr(mmcv.cnn, 'CONV_LAYERS'):
            stubs['mmcv.cnn'] = extended_module('mmcv.cnn', CONV_LAYERS=NoOpRegistry())
    except ImportError:
        stubs['mmcv'] = types.ModuleType('mmcv')
        stubs['mmcv.cnn'] = types.SimpleNamespace(CONV_LAYERS=NoOpRegistry())
    try:
        import timm.models.layers  # noqa: F401
    except ImportError:
        stubs['timm'] = types.ModuleType('timm')
        stubs['timm.models'] = types.ModuleType('timm.models')
        stubs['timm.models.layers'] = types.SimpleNamespace(
            trunc_normal_=torch.nn.init.trunc_normal_)
    with swapped_modules(stubs):
        yield


@contextlib.contextmanager
def swapped_modules(modules: dict):
    """``sys.modules`` entries replaced by ``modules`` for the duration, then restored."""
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def load_release_file(path, module_name: str) -> types.ModuleType:
    """Execute one release file as a module named ``module_name`` that is never entered in
    ``sys.modules`` (its imports see whatever stand-ins the caller has swapped in)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_release_fdconv(checkout) -> types.ModuleType:
    """The authors' ``FDConv.py`` module (``FDConv``, ``FrequencyBandModulation``, ...) from a
    checkout of https://github.com/Linwei-Chen/FDConv."""
    path = Path(checkout) / FDCONV_RELEASE_MODULE
    if not path.is_file():
        raise FileNotFoundError(f'{path} not found: expected a checkout of '
                                f'https://github.com/Linwei-Chen/FDConv')
    with stubbed_imports():
        return load_release_file(path, 'fdconv_release')


def load_dynconv_reference(method: str) -> Optional[types.ModuleType]:
    """The reference module of ``method`` (a key of :data:`DYNCONV_REFERENCE_FILES`) from the
    first checkout in ``$MMFREQ_DYNCONV_REFERENCE_DIR`` that has it, or None."""
    marker, _ = DYNCONV_REFERENCE_FILES[method]
    checkout = release_checkout(marker, os.environ.get(DYNCONV_REFERENCE_ENV, ''))
    if checkout is None:
        return None
    return load_release_file(checkout / marker, f'dynconv_reference_{method}')
