"""Compatibility of the OpenMMLab stack with current Python and torch, and safe checkpoint loading.

Applied once by ``import mmfreq`` when mmengine is installed (so stock tools get it through their
configs' ``custom_imports``):

* mmrotate 1.0.0rc1 does ``from collections import Sequence`` (gone since Python 3.10).
* The few third-party warnings that every run prints and mmfreq cannot fix are silenced, each by
  its message and module (``THIRD_PARTY_NOISE``), never globally.
* Every checkpoint mmengine loads goes through :mod:`mmfreq.checkpoint` (``weights_only=True``,
  URLs included; a refusal names the opt-in).
* A stock mmengine checkpoint also pickles ``builtins.getattr`` (``HistoryBuffer.__getstate__``
  stores references to its own statistics methods); allowing ``getattr`` would re-open arbitrary
  code execution. We make the checkpoints we write free of those references and allow-list exactly
  the remaining types (``HistoryBuffer`` and the numpy array types in its state).

Loading a foreign checkpoint that needs more (e.g. one written by stock mmengine with its message
hub) is the user's explicit opt-in, torch's own: ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``
(docs/checkpoints.md).
"""
import collections
import collections.abc
import warnings

_applied = False

# Third-party warnings that a run of mmfreq's configs prints and that nothing in mmfreq can fix,
# silenced by message and module only: (message regex, module regex).
THIRD_PARTY_NOISE = (
    # mmengine (its `pkg_resources` import) under setuptools >= 80
    (r'pkg_resources is deprecated as an API', r''),
    # mmseg's decode heads build their losses through the deprecated helper themselves
    (r'``build_loss`` would be deprecated soon', r'mmseg\.models\.builder'),
    # mmseg's CrossEntropyLoss default, which the stock recipes (and the papers' numbers) keep
    (r'Default ``avg_non_ignore`` is False', r'mmseg\.models\.losses\.cross_entropy_loss'),
)


def _history_buffer_state(self) -> dict:
    # The statistics methods are class-level and re-registered on import, so the state needs
    # none of them; dropping them keeps the pickle free of `getattr` references.
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def checkpoint_safe_globals() -> list:
    """The non-tensor types in checkpoints that mmfreq's runs write, for ``weights_only`` loads."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(t)) for t in
                     (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                      np.uint8, np.bool_)]
    # checkpoints written under numpy 1.x (mmcv 1.x / mmdet 2.x releases keep numpy values in
    # their meta) name the same two functions by their old module
    numpy1_names = [(_reconstruct, 'numpy.core.multiarray._reconstruct'),
                    (scalar, 'numpy.core.multiarray.scalar')]
    return [HistoryBuffer, np.ndarray, np.dtype, _reconstruct, scalar, *dtype_classes,
            *numpy1_names]


def apply() -> None:
    """Apply the fixes once (idempotent); needs mmengine."""
    global _applied
    if _applied:
        return
    _applied = True
    for message, module in THIRD_PARTY_NOISE:
        warnings.filterwarnings('ignore', message=message, category=UserWarning, module=module)
    for name in ('Sequence', 'Mapping', 'MutableMapping', 'Iterable', 'Callable'):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))

    from mmengine.logging import HistoryBuffer

    from .checkpoint import allow_globals, register_mmengine_loaders
    HistoryBuffer.__getstate__ = _history_buffer_state
    allow_globals(checkpoint_safe_globals())
    register_mmengine_loaders()
