"""Forward hooks that record what every block of a backbone sees and produces.

A *block* is a module that sits in an ``nn.ModuleList`` / ``nn.Sequential`` and has both ``norm1``
and ``norm2`` (transformer layers of mmseg's ViT and MiT, mmfreq's ``FDAMBlock`` and LSKNet blocks,
mmdet/mmseg ResNet bottlenecks); nested blocks inside a block are not listed separately.

:class:`BlockRecorder` is a context manager: inside it, every forward pass of the backbone records
per block its input, its output, the output of its ``norm1`` (the attention input of a pre-norm
transformer block) and its token grid, in :attr:`BlockRecorder.records`::

    with BlockRecorder(model.backbone, image_hw=(512, 512)) as rec:
        model.backbone(inputs)
    for r in rec.records:  # BlockRecord
        r.name, r.output_tokens().shape, r.hw_shape, r.num_prefix_tokens

Token layout ``(B, N, C)`` with ``N = prefix + H*W`` and maps ``(B, C, H, W)`` are both handled:
maps are recorded as tokens with no prefix. The grid ``(H, W)`` of token inputs comes from the
block's ``hw_shape`` argument or attribute when it has one, otherwise from the token count and the
image size (the stride ``s`` with ``ceil(H_img/s) * ceil(W_img/s)`` spatial tokens).
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

__all__ = ['BlockRecord', 'BlockRecorder', 'find_blocks', 'infer_token_grid', 'ModuleRecorder']


def find_blocks(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """``(name, module)`` of the blocks of ``model`` (module docstring), in forward order of
    registration."""
    blocks, taken = [], []
    for parent_name, parent in model.named_modules():
        if not isinstance(parent, (nn.ModuleList, nn.Sequential)):
            continue
        for child_name, child in parent.named_children():
            name = f'{parent_name}.{child_name}' if parent_name else child_name
            if any(name.startswith(t + '.') for t in taken):
                continue
            if _has(child, 'norm1') and _has(child, 'norm2'):
                blocks.append((name, child))
                taken.append(name)
    return blocks


def _has(module: nn.Module, attr: str) -> bool:
    try:
        return isinstance(getattr(module, attr), nn.Module)
    except AttributeError:
        return False


def infer_token_grid(num_tokens: int, image_hw: Tuple[int, int], max_prefix: int = 1
                     ) -> Tuple[Tuple[int, int], int]:
    """``((h, w), prefix)``: the grid of ``num_tokens`` tokens of an image ``image_hw``, trying
    strides 1..128 (``ceil`` and ``floor`` divisions) and up to ``max_prefix`` prefix tokens."""
    height, width = image_hw
    for prefix in range(max_prefix + 1):
        spatial = num_tokens - prefix
        for stride in range(1, 129):
            for div in (math.ceil, math.floor):
                h, w = div(height / stride), div(width / stride)
                if h * w == spatial and h > 0:
                    return (h, w), prefix
    raise ValueError(f'cannot infer the grid of {num_tokens} tokens for an image of {image_hw}')


@dataclass
class BlockRecord:
    """One block's recorded forward pass (tensors detached, on the CPU)."""
    name: str
    block: nn.Module
    input: Optional[torch.Tensor] = None
    output: Optional[torch.Tensor] = None
    attn_input: Optional[torch.Tensor] = None
    hw_shape: Optional[Tuple[int, int]] = None
    num_prefix_tokens: int = 0

    @staticmethod
    def _tokens(x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).transpose(1, 2) if x.dim() == 4 else x

    def input_tokens(self, spatial_only: bool = True) -> torch.Tensor:
        """Block input as ``(B, N, C)`` (prefix tokens dropped when ``spatial_only``)."""
        tokens = self._tokens(self.input)
        return tokens[:, self.num_prefix_tokens:] if spatial_only else tokens

    def output_tokens(self, spatial_only: bool = True) -> torch.Tensor:
        """Block output as ``(B, N, C)`` (prefix tokens dropped when ``spatial_only``)."""
        tokens = self._tokens(self.output)
        return tokens[:, self.num_prefix_tokens:] if spatial_only else tokens

    def output_map(self) -> torch.Tensor:
        """Block output as ``(B, C, H, W)`` (spatial tokens only)."""
        tokens = self.output_tokens()
        return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], *self.hw_shape)

    def input_map(self) -> torch.Tensor:
        """Block input as ``(B, C, H, W)`` (spatial tokens only)."""
        tokens = self.input_tokens()
        return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], *self.hw_shape)


def _first_tensor(value):
    if torch.is_tensor(value):
        return value
    if isinstance(value, (tuple, list)) and value and torch.is_tensor(value[0]):
        return value[0]
    return None


def _as_hw(value) -> Optional[Tuple[int, int]]:
    if isinstance(value, (tuple, list, torch.Size)) and len(value) == 2 \
            and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    return None


class BlockRecorder:
    """Record the forward pass of every block of ``model`` (module docstring).

    Args:
        model: the backbone (or any module containing blocks).
        image_hw: the input image size, to infer token grids when a block does not say.
        names: record only these block names (default: all of :func:`find_blocks`).
    """

    def __init__(self, model: nn.Module, image_hw: Tuple[int, int],
                 names: Optional[List[str]] = None):
        blocks = find_blocks(model)
        if names is not None:
            unknown = sorted(set(names) - {n for n, _ in blocks})
            if unknown:
                raise ValueError(f'no blocks named {unknown}; blocks: {[n for n, _ in blocks]}')
            blocks = [(n, b) for n, b in blocks if n in names]
        if not blocks:
            raise ValueError(f'{type(model).__name__} has no blocks (modules with norm1 and norm2 '
                             'in a ModuleList / Sequential)')
        self.image_hw = tuple(image_hw)
        self.blocks = blocks
        self.records: List[BlockRecord] = []
        self._handles = []

    def __enter__(self) -> 'BlockRecorder':
        self.records = []
        for name, block in self.blocks:
            self._handles.append(block.register_forward_pre_hook(
                self._pre_hook(name, block), with_kwargs=True))
            self._handles.append(block.register_forward_hook(self._post_hook(block)))
            self._handles.append(block.norm1.register_forward_hook(self._norm_hook(block)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _current(self, block: nn.Module) -> Optional[BlockRecord]:
        for record in reversed(self.records):
            if record.block is block:
                return record
        return None

    def _pre_hook(self, name: str, block: nn.Module):
        def hook(module, args, kwargs):
            x = args[0] if args else kwargs.get('x')
            hw = None
            if len(args) > 1:
                hw = _as_hw(args[1])
            hw = hw or _as_hw(kwargs.get('hw_shape')) or _as_hw(getattr(module, 'hw_shape', None))
            record = BlockRecord(name=name, block=block, input=x.detach().cpu())
            if x.dim() == 4:
                record.hw_shape = tuple(x.shape[-2:])
            else:
                if hw is None:
                    hw, prefix = infer_token_grid(x.shape[1], self.image_hw)
                else:
                    prefix = x.shape[1] - hw[0] * hw[1]
                record.hw_shape, record.num_prefix_tokens = hw, prefix
            self.records.append(record)
        return hook

    def _post_hook(self, block: nn.Module):
        def hook(module, args, output):
            record = self._current(block)
            out = _first_tensor(output)
            if record is not None and out is not None:
                record.output = out.detach().cpu()
        return hook

    def _norm_hook(self, block: nn.Module):
        def hook(module, args, output):
            record = self._current(block)
            if record is not None and record.attn_input is None:
                record.attn_input = output.detach().cpu()
        return hook


class ModuleRecorder:
    """Record the (first tensor) input and output of the named modules of ``model``::

        with ModuleRecorder(model, ['backbone.layer1.0.conv2.FBM']) as rec:
            model(x)
        rec.inputs[name], rec.outputs[name]   # lists, one entry per call
    """

    def __init__(self, model: nn.Module, names: List[str]):
        modules = dict(model.named_modules())
        missing = [n for n in names if n not in modules]
        if missing:
            raise ValueError(f'modules not found: {missing}')
        self.modules = {n: modules[n] for n in names}
        self.inputs: Dict[str, List[torch.Tensor]] = {}
        self.outputs: Dict[str, List[torch.Tensor]] = {}
        self._handles = []

    def __enter__(self) -> 'ModuleRecorder':
        self.inputs = {n: [] for n in self.modules}
        self.outputs = {n: [] for n in self.modules}
        for name, module in self.modules.items():
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, name: str):
        def hook(module, args, output):
            x = _first_tensor(args)
            if x is not None:
                self.inputs[name].append(x.detach().cpu())
            out = _first_tensor(output)
            if out is not None:
                self.outputs[name].append(out.detach().cpu())
        return hook
