"""A weights-only load for torch < 2.6, where ``torch.load`` unpickles everything by default and
has no way to allow the few non-tensor types that mmfreq's checkpoints hold (docs/checkpoints.md).

:func:`restricted_load` reads a checkpoint with an unpickler that resolves only allow-listed
globals: torch's own weights-only list of the installed release (tensor and storage rebuilding,
dtypes, ``torch.Size``, ``OrderedDict``), the plain builtins that torch 2.6 adds to it, and what
:func:`allow_globals` registered (mmfreq's ``HistoryBuffer`` and numpy types). Any other global --
``exec``, ``getattr``, a class of some library -- stops the load before anything is called, with
the message torch >= 2.6 gives, so :mod:`mmfreq.checkpoint` refuses it in the same words. Every
callable that a pickle can reach is one of those, so nothing else can run.
"""
import _compat_pickle
import functools
import io
import pickle
import types
from typing import Dict, Iterable

import torch

__all__ = ['allow_globals', 'restricted_load']

_registered: Dict[str, object] = {}
_BLOCKED_MODULES = ('sys', 'os', 'posix', 'nt')  # refused by name, as torch >= 2.6 does


def allow_globals(objects: Iterable) -> None:
    """Allow ``objects`` (as ``add_safe_globals`` takes them: an object, or ``(object, name)``
    for an object pickled under another module path)."""
    for entry in objects:
        obj, name = entry if isinstance(entry, tuple) else (
            entry, f'{entry.__module__}.{entry.__qualname__}')
        _registered[name] = obj


@functools.lru_cache(maxsize=None)
def _torch_allowed() -> Dict[str, object]:
    try:
        from torch._weights_only_unpickler import _get_allowed_globals
    except ImportError:
        allowed = {}
    else:
        allowed = dict(_get_allowed_globals())
    import _codecs
    # allowed by torch >= 2.6 too: bytes in protocol-2 pickles (numpy arrays) and plain values
    allowed.update({'_codecs.encode': _codecs.encode, 'torch.device': torch.device,
                    'builtins.set': set, 'builtins.frozenset': frozenset,
                    'builtins.bytearray': bytearray})
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the allowed globals; everything else is refused unresolved."""

    def find_class(self, module: str, name: str):
        # protocol-2 pickles (torch.save's default) name Python 2 modules: `__builtin__.exec`
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = f'{module}.{name}'
        if module in _BLOCKED_MODULES:
            raise pickle.UnpicklingError(
                f'Weights only load failed. Trying to load unsupported GLOBAL {key} whose module '
                f'{module} is blocked.')
        found = _torch_allowed().get(key, _registered.get(key))
        if found is None:
            shown = name if module == 'builtins' else key  # as torch >= 2.6 words it
            raise pickle.UnpicklingError(
                f'Weights only load failed. WeightsUnpickler error: Unsupported global: GLOBAL '
                f'{shown} was not an allowed global by default.')
        return found


def _load(file, **kwargs):
    return RestrictedUnpickler(file, **kwargs).load()


# what torch.load takes as `pickle_module` (its loader subclasses `Unpickler`, and reads the
# legacy format's header with `load`)
_pickle_module = types.SimpleNamespace(__name__=__name__, Unpickler=RestrictedUnpickler,
                                       load=_load, UnpicklingError=pickle.UnpicklingError)


def _is_torchscript(f) -> bool:
    """Whether ``f`` (a path or a seekable binary file) is a TorchScript archive, which
    ``torch.load`` would hand to ``torch.jit.load``."""
    from torch import serialization
    with serialization._open_file_like(f, 'rb') as opened:
        start = opened.tell()
        try:
            if not serialization._is_zipfile(opened):
                return False
            with serialization._open_zipfile_reader(opened) as archive:
                return serialization._is_torchscript_zip(archive)
        finally:
            opened.seek(start)


def restricted_load(f, map_location=None):
    """``torch.load(f, map_location)`` through :class:`RestrictedUnpickler`; a refused file raises
    ``pickle.UnpicklingError`` naming what it references."""
    if isinstance(f, (bytes, bytearray)):
        f = io.BytesIO(f)
    if _is_torchscript(f):
        raise pickle.UnpicklingError('Weights only load failed: the file is a TorchScript '
                                     'archive; load it with torch.jit.load')
    return torch.load(f, map_location=map_location, pickle_module=_pickle_module,
                      weights_only=False)
