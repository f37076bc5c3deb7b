"""Loading checkpoints without running code from them (see docs/checkpoints.md).

A checkpoint is a pickle, and unpickling can call any function the file names. Every checkpoint
that enters an mmfreq run is therefore read by :func:`load`, i.e. by ``torch.load`` with torch's
default ``weights_only=True`` unpickler, which rebuilds tensors, plain containers and explicitly
allow-listed types and calls nothing else. That covers local paths, ``http(s)://`` URLs and
mmengine's ``torchvision://``, ``open-mmlab://`` and ``mmcls://`` names (whose stock loaders go
through ``torch.hub.load_state_dict_from_url``, which loads with ``weights_only=False``),
``init_cfg=dict(type='Pretrained')``, ``load_from``, ``--resume`` and mmfreq's own tools:
:func:`register_mmengine_loaders` has mmengine's loaders download through :func:`load_url`.

A file that needs more is refused with :class:`UntrustedCheckpointError`, whose message names the
one opt-in, torch's own: the environment variable ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` makes
``torch.load`` use ``weights_only=False`` wherever the caller did not pass ``weights_only``. That is
why nothing here passes it.

On torch < 2.6 (no safe default, no allow-list, no opt-in variable) the same loads go through
:func:`mmfreq.restricted_unpickler.restricted_load`, with the same allow-list, the same refusals
and the same opt-in, which mmfreq then honours itself (with the warning torch gives).
"""
import contextlib
import functools
import os
import pickle
import re
import warnings
from typing import Optional

import torch

from .layers.torch_support import TORCH_VERSION, WEIGHTS_ONLY_TORCH

OPT_IN_ENV = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'

__all__ = ['OPT_IN_ENV', 'UntrustedCheckpointError', 'allow_globals', 'load', 'load_url',
           'opted_in', 'refusal_message', 'register_mmengine_loaders']


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint that the ``weights_only`` unpickler refuses: loading it could run code."""


def _what_was_refused(torch_message: str) -> str:
    """The unpickler's objection, without torch's advice (which proposes allow-listing the very
    global that was refused, ``getattr`` included)."""
    found = re.search(r'GLOBAL (\S+) was not an allowed global', torch_message)
    if found:
        return f'it references `{found.group(1)}`, which a weights-only load does not allow'
    found = re.search(r'whose module (\S+) is blocked', torch_message)
    if found:
        return f'it references the blocked module `{found.group(1)}`'
    if 'TorchScript' in torch_message:
        return 'it is a TorchScript archive, not a checkpoint'
    found = re.search(r'WeightsUnpickler error: (.*?)(?=\s*Please |\s*Check the |\n|$)',
                      torch_message)
    if found:
        return f'the weights-only unpickler stopped: {found.group(1)}'
    return 'it holds more than a weights-only load allows'


def refusal_message(source: str, torch_message: str) -> str:
    """What a user reads when ``source`` is refused: why, the opt-in, and what opting in means."""
    return (
        f'Refused to load the checkpoint {source}: {_what_was_refused(torch_message)}. A '
        'checkpoint is a pickle, and one that is more than tensors and plain values can run any '
        'code on this machine while it loads.\n'
        f'Only if you trust the source of this file completely, run again with {OPT_IN_ENV}=1 in '
        'the environment (torch then loads every checkpoint of the run with weights_only=False, so '
        'any code inside them runs). Better: load it once that way in a throw-away environment and '
        're-save its tensors (docs/checkpoints.md).')


@contextlib.contextmanager
def _refusing(source: str):
    """Turn torch's refusal of a ``weights_only`` load into :class:`UntrustedCheckpointError`."""
    try:
        yield
    except UntrustedCheckpointError:
        raise  # refused further in, where the source was known best
    except (pickle.UnpicklingError, RuntimeError) as error:
        if isinstance(error, pickle.UnpicklingError) or 'weights_only' in str(error):
            raise UntrustedCheckpointError(refusal_message(source, str(error))) from None
        raise


_TORCH_LOADS_SAFELY = TORCH_VERSION >= WEIGHTS_ONLY_TORCH


def opted_in() -> bool:
    """Whether the user set the opt-in (read at each load, as torch does)."""
    return os.getenv(OPT_IN_ENV, '0').lower() in ('1', 'y', 'yes', 'true')


def _old_torch_load(f, map_location):
    """torch < 2.6: the restricted load, or with the opt-in the full one (and torch's warning)."""
    from .restricted_unpickler import restricted_load
    if not opted_in():
        return restricted_load(f, map_location=map_location)
    warnings.warn(f'Environment variable {OPT_IN_ENV} detected, since the `weights_only` argument '
                  'was not explicitly passed to `torch.load`, forcing weights_only=False.',
                  UserWarning, stacklevel=3)
    return torch.load(f, map_location=map_location, weights_only=False)


def load(f, map_location=None, source: Optional[str] = None):
    """``torch.load(f, map_location)`` with torch's safe default; a refused file raises
    :class:`UntrustedCheckpointError` naming ``source`` (default: ``f``) and the opt-in."""
    with _refusing(str(source or f)):
        if not _TORCH_LOADS_SAFELY:
            return _old_torch_load(f, map_location)
        return torch.load(f, map_location=map_location)  # weights_only unset: see module doc


def allow_globals(objects: list) -> None:
    """Allow these non-tensor types in every safe load (``torch.serialization.add_safe_globals``
    on torch >= 2.6, mmfreq's restricted unpickler before)."""
    if _TORCH_LOADS_SAFELY:
        torch.serialization.add_safe_globals(objects)
    else:
        from .restricted_unpickler import allow_globals as allow
        allow(objects)


def _download(url: str, model_dir: Optional[str], progress: bool, file_name: Optional[str]) -> str:
    """The path of ``url`` in torch hub's checkpoint cache (where torch.hub puts it), downloaded
    unless it is there."""
    from urllib.parse import urlparse
    model_dir = model_dir or os.path.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached = os.path.join(model_dir, file_name or os.path.basename(urlparse(url).path))
    if not os.path.exists(cached):
        torch.hub.download_url_to_file(url, cached, progress=progress)
    return cached


def load_url(url: str, model_dir: Optional[str] = None, map_location=None, progress: bool = True,
             file_name: Optional[str] = None):
    """Download ``url`` into torch hub's checkpoint cache unless it is there, and load it as
    :func:`load` does (``torch.hub.load_state_dict_from_url`` with ``weights_only`` unset)."""
    if not _TORCH_LOADS_SAFELY:
        return load(_download(url, model_dir, progress, file_name), map_location, source=url)
    with _refusing(url):
        # None is torch.load's "not passed": the safe default, overridable only by the opt-in
        return torch.hub.load_state_dict_from_url(url, model_dir=model_dir,
                                                  map_location=map_location, progress=progress,
                                                  file_name=file_name, weights_only=None)


def _refusing_loader(loader):
    """``loader`` (an mmengine scheme loader, loading with torch's default or through
    :func:`load_url`) with :class:`UntrustedCheckpointError` instead of torch's message."""

    @functools.wraps(loader)  # CheckpointLoader names the backend after the function
    def wrapper(filename, *args, **kwargs):
        with _refusing(filename), _safe_default_load():
            return loader(filename, *args, **kwargs)

    return wrapper


@contextlib.contextmanager
def _safe_default_load():
    """On torch < 2.6, the ``torch.load`` calls inside an mmengine loader (which pass only
    ``map_location``) load as :func:`load` does, for the duration of that loader alone; explicit
    ``weights_only`` / ``pickle_module`` arguments reach torch's own."""
    if _TORCH_LOADS_SAFELY:
        yield
        return
    torch_load = torch.load

    def safe_default(f, map_location=None, *args, **kwargs):
        if args or kwargs:
            return torch_load(f, map_location, *args, **kwargs)
        return _old_torch_load(f, map_location)

    torch.load = safe_default
    try:
        yield
    finally:
        torch.load = torch_load


def register_mmengine_loaders() -> None:
    """Make mmengine's ``CheckpointLoader`` (used by ``load_from``, ``--resume``, ``init_cfg``
    Pretrained and backbones' own loading) load safely under every scheme: its loaders download
    through :func:`load_url` instead of ``torch.hub.load_state_dict_from_url`` (which defaults
    to ``weights_only=False``), and each refusal raises :class:`UntrustedCheckpointError`."""
    from mmengine.runner import CheckpointLoader
    from mmengine.runner import checkpoint as mm_checkpoint
    mm_checkpoint.load_url = load_url  # the global mmengine's loaders download with
    for prefixes, loader in (
            ('', mm_checkpoint.load_from_local),
            (('http://', 'https://'), mm_checkpoint.load_from_http),
            (('modelzoo://', 'torchvision://'), mm_checkpoint.load_from_torchvision),
            (('open-mmlab://', 'openmmlab://'), mm_checkpoint.load_from_openmmlab),
            ('mmcls://', mm_checkpoint.load_from_mmcls),
            ('pavi://', mm_checkpoint.load_from_pavi),
            ((r'(\S+\:)?s3://', r'(\S+\:)?petrel://'), mm_checkpoint.load_from_ceph)):
        CheckpointLoader.register_scheme(prefixes, _refusing_loader(loader), force=True)
