"""mmfreq: FDConv and FDAM for the OpenMMLab stack.

``mmfreq.layers`` is pure torch and usable on its own. When mmengine is installed, ``import mmfreq``
also applies the stack's compatibility fixes and safe checkpoint loading (:mod:`mmfreq.compat`)
and registers mmfreq's modules in the registries of whichever of mmdet, mmseg and mmrotate are
installed (:mod:`mmfreq.models`).
"""
import importlib.util

from . import layers  # noqa: F401

__version__ = '0.1.0'

if importlib.util.find_spec('mmengine') is not None:
    from . import compat, models
    compat.apply()  # before any codebase is imported (mmrotate needs its collections aliases)
    models.register_installed()
