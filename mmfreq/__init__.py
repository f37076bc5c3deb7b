"""mmfreq: FDConv and FDAM for the OpenMMLab stack.

``import mmfreq`` applies the stack's compatibility fixes (:mod:`mmfreq.compat`) and registers
every module in the mm registries (when mmengine is installed); ``mmfreq.layers`` is pure torch
and usable on its own.
"""
import importlib.util

from . import layers  # noqa: F401

__version__ = '0.1.0'

if importlib.util.find_spec('mmengine') is not None:
    from . import compat
    compat.apply()
    from . import models  # noqa: F401,E402
