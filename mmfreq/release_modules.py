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
           'stubbed_imports', 'swapped_modules']

RELEASE_DIR_ENV = 'MMFREQ_RELEASE_DIR'
FDCONV_RELEASE_MODULE = Path('FDConv_detection') / 'mmdet_custom' / 'FDConv.py'


def release_checkout(marker: Path, paths: Optional[str] = None) -> Optional[Path]:
    """The first of ``paths`` (default: ``$MMFREQ_RELEASE_DIR``, several separated by
    ``os.pathsep``) that holds the file ``marker``, or None."""
    paths = os.environ.get(RELEASE_DIR_ENV, '') if paths is None else paths
    for path in filter(None, paths.split(os.pathsep)):
        if (Path(path) / marker).is_file():
            return Path(path)
    return None


@contextlib.contextmanager
def stubbed_imports():
    """Provide ``mmcv.cnn.CONV_LAYERS`` and ``timm.models.layers.trunc_normal_`` where missing,
    for the duration of an import of release code; ``sys.modules`` is restored afterwards."""

    class _Registry:
        def register_module(self, *args, **kwargs):
            return (lambda cls: cls) if not args or not isinstance(args[0], type) else args[0]

    stubs = {}
    try:
        import mmcv.cnn
        if not hasattr(mmcv.cnn, 'CONV_LAYERS'):
            stubs['mmcv.cnn'] = types.SimpleNamespace(**vars(mmcv.cnn), CONV_LAYERS=_Registry())
    except ImportError:
        stubs['mmcv'] = types.ModuleType('mmcv')
        stubs['mmcv.cnn'] = types.SimpleNamespace(CONV_LAYERS=_Registry())
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


def load_release_fdconv(checkout) -> types.ModuleType:
    """The authors' ``FDConv.py`` module (``FDConv``, ``FrequencyBandModulation``, ...) from a
    checkout of https://github.com/Linwei-Chen/FDConv."""
    path = Path(checkout) / FDCONV_RELEASE_MODULE
    if not path.is_file():
        raise FileNotFoundError(f'{path} not found: expected a checkout of '
                                f'https://github.com/Linwei-Chen/FDConv')
    spec = importlib.util.spec_from_file_location('fdconv_release', path)
    module = importlib.util.module_from_spec(spec)
    with stubbed_imports():
        spec.loader.exec_module(module)
    return module
