"""Gradient checkpointing of the stock mm residual blocks with ``use_reentrant`` given.

mmdet's, mmseg's and mmpretrain's ``BasicBlock`` / ``Bottleneck`` with ``with_cp=True`` call
``torch.utils.checkpoint.checkpoint`` without ``use_reentrant``, which torch >= 2.4 warns about at
every step (and a later torch may refuse). :func:`checkpoint_explicitly_` gives such a block a
class of its own that runs the block's stock forward, with its ``with_cp`` off, inside one
non-reentrant checkpoint: the same outputs and gradients, no warning. The classes are named in
this module, so a model that holds them pickles.
"""
from typing import Dict

from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ['checkpoint_explicitly_']


class _ExplicitlyCheckpointed:
    """Placed before a stock block class in a subclass's bases (see the module docstring)."""

    def forward(self, x):
        if x.requires_grad:  # as the stock blocks: nothing to save without a gradient
            return checkpoint(super().forward, x, use_reentrant=False)
        return super().forward(x)


_CLASSES: Dict[type, type] = {}


def _checkpointed_class(block_class: type) -> type:
    if block_class not in _CLASSES:
        name = f"Checkpointed_{block_class.__module__.replace('.', '_')}_{block_class.__name__}"
        new_class = type(name, (_ExplicitlyCheckpointed, block_class),
                         dict(__module__=__name__, __qualname__=name))
        globals()[name] = new_class
        _CLASSES[block_class] = new_class
    return _CLASSES[block_class]


def checkpoint_explicitly_(res_layer: nn.Module) -> None:
    """In place: every block of ``res_layer`` with ``with_cp=True`` is checkpointed with
    ``use_reentrant=False`` instead of its stock call (module docstring)."""
    for block in res_layer:
        if getattr(block, 'with_cp', False):
            block.with_cp = False
            block.__class__ = _checkpointed_class(type(block))
