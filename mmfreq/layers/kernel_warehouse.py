"""KernelWarehouse (Li and Yao, "KernelWarehouse: Rethinking the Design of Dynamic Convolution",
ICML 2024), one of the dynamic convolutions FDConv (CVPR 2025) compares with in its Tables 1-2.

A layer's kernel is cut into ``m`` local mixtures, each a kernel cell of shape
``(cell_out, cell_in, 1, 1)`` (one spatial position, a block of output and input channels);
every mixture is an attention-weighted sum of the ``M`` cells of a *warehouse* that several
layers share (same-stage layers of the same kind). The attention is normalised by the sum of
absolute values (not a softmax, so weights may be negative) and has one extra "zero cell".
``temperature`` t in [0, 1] blends it with a fixed assignment that gives every mixture its own
cell: at t = 1 each layer is a plain conv made of its assigned cells (the authors anneal t from 1
to 0 over the first 20 ImageNet epochs; detection fine-tuning keeps 0).

Written after the authors' code (OSVAI/KernelWarehouse, ``modules/kernel_warehouse.py``), whose
parameter names this module keeps (``warehouse_manager.weights.<i>``, ``attention.fc1`` /
``norm1`` / ``fc2``), so its state dicts load. The sharing over a whole ResNet is
``mmfreq.models``' ``ResNetKW``. Decisions: docs/dynamic-convs.md#kernelwarehouse.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .dynamic_conv_base import DynamicConv2dBase, check_option, pooled, pooled_batch_norm

__all__ = ['KWConv2d', 'KernelWarehouseManager']

_IntPair = Union[int, Tuple[int, int]]


class _CellAttention(nn.Module):
    """Attention of one layer's ``m`` mixtures over the ``M`` cells of its warehouse (+ the
    zero cell): ``GAP -> fc1 -> BN -> ReLU -> fc2``, each group of ``M + 1`` logits divided by
    the sum of their absolute values (+ 1e-3), blended with the fixed assignment ``temp_bias``
    by ``temperature``. ``(B, in)`` in, ``(B * m, M)`` out (the zero cell dropped).

    With ``nonlocal_basis_ratio < 1`` (the reference's parameter saving for large warehouses),
    ``fc2`` gives each mixture logits for the layer's own ``L`` cells (those from ``start``), for
    ``n = max(int(N * ratio), 16)`` basis vectors and for the zero cell; ``fc3`` maps the basis
    logits to the ``N = M - L`` cells of the other layers, and ``basis_bias`` replaces fc2's
    bias."""

    def __init__(self, in_channels: int, reduction: float, num_cells: int, num_mixtures: int,
                 factory_kwargs: dict, start: int = 0, cell_num_ratio: float = 1.0,
                 nonlocal_basis_ratio: float = 1.0):
        super().__init__()
        hidden = max(int(in_channels * reduction), 16)
        self.num_cells, self.num_mixtures = num_cells, num_mixtures
        self.fc1 = nn.Linear(in_channels, hidden, bias=False, **factory_kwargs)
        self.norm1 = nn.BatchNorm1d(hidden, **factory_kwargs)
        self.act1 = nn.ReLU(inplace=True)
        self.uses_basis = nonlocal_basis_ratio < 1
        if self.uses_basis:
            self.start = start
            self.num_local_cells = int(cell_num_ratio * num_mixtures)
            num_nonlocal = num_cells - self.num_local_cells
            self.num_basis = max(int(num_nonlocal * nonlocal_basis_ratio), 16)
            self.fc2 = nn.Linear(hidden, (self.num_local_cells + self.num_basis + 1)
                                 * num_mixtures, bias=False, **factory_kwargs)
            self.fc3 = nn.Linear(self.num_basis, num_nonlocal, bias=False, **factory_kwargs)
            self.basis_bias = nn.Parameter(torch.zeros((num_cells + 1) * num_mixtures,
                                                       **factory_kwargs))
        else:
            self.fc2 = nn.Linear(hidden, (num_cells + 1) * num_mixtures, **factory_kwargs)
            nn.init.zeros_(self.fc2.bias)
        for fc in (self.fc1, self.fc2, getattr(self, 'fc3', None)):
            if fc is not None and fc.weight.numel():  # fc3 is empty without other layers
                nn.init.kaiming_normal_(fc.weight, mode='fan_out', nonlinearity='relu')
        # not in the state dict (as in the reference): derived from the warehouse layout
        self.register_buffer('temp_bias', torch.zeros((num_cells + 1) * num_mixtures,
                                                      device=factory_kwargs.get('device')),
                             persistent=False)
        self.temperature = 0.0

    def assign_cells(self, start: int, cell_num_ratio: float) -> int:
        """Fix the cells of the temperature assignment from cell ``start`` of the warehouse on;
        returns the first cell of the next layer. ``cell_num_ratio >= 1``: mixture i gets cell
        ``start + i * int(ratio)``; below 1, one mixture in ``1 / ratio`` gets a cell of its own
        and the others the zero cell (the reference's pattern)."""
        stride = self.num_cells + 1
        bias = torch.zeros_like(self.temp_bias)
        if cell_num_ratio >= 1:
            for mixture in range(self.num_mixtures):
                bias[mixture * stride + start] = 1
                start += int(cell_num_ratio)
        else:
            per_cell = int(1.0 / cell_num_ratio)
            for mixture in range(self.num_mixtures):
                if mixture % per_cell == (mixture // per_cell) % per_cell:
                    bias[mixture * stride + start] = 1
                    start += 1
                else:
                    bias[mixture * stride + stride - 1] = 1
        self.temp_bias.copy_(bias)
        return start

    def _logits_from_basis(self, reduced: torch.Tensor) -> torch.Tensor:
        """``(B, m * (L + n + 1))`` -> ``(B, m * (M + 1))``: the other layers' cells from the
        basis, placed around this layer's cells (from ``start``), then ``basis_bias``."""
        reduced = reduced.view(-1, self.num_local_cells + self.num_basis + 1)
        local, basis, zero = reduced.split([self.num_local_cells, self.num_basis, 1], dim=1)
        nonlocal_cells = self.fc3(basis)
        logits = torch.cat([nonlocal_cells[:, :self.start], local,
                            nonlocal_cells[:, self.start:], zero], dim=1)
        return logits.view(-1, self.basis_bias.numel()) + self.basis_bias

    def forward(self, pooled_x: torch.Tensor) -> torch.Tensor:
        logits = self.fc2(self.act1(pooled_batch_norm(self.norm1, self.fc1(pooled_x))))
        if self.uses_basis:
            logits = self._logits_from_basis(logits)
        logits = logits.view(-1, self.num_mixtures, self.num_cells + 1)
        attention = logits / (logits.abs().sum(dim=2, keepdim=True) + 1e-3)
        t = self.temperature
        attention = (1.0 - t) * attention + t * self.temp_bias.view(logits.shape[1:])
        return attention[:, :, :-1].reshape(-1, self.num_cells)


class KWConv2d(DynamicConv2dBase):
    """A KernelWarehouse conv, an ``nn.Conv2d`` drop-in (module docstring).

    For x ``(B, in, H, W)``: attention ``a`` ``(B * m, M)`` over the warehouse's cells ``(M,
    cell_out, cell_in, 1, 1)``; the kernel of sample b is ``a_b @ cells`` rearranged to
    ``(out, in/groups, kh, kw)`` (mixture (s, o, i) fills spatial position s, output block o,
    input block i), then one grouped conv over the batch, ``+ bias``.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
        padding_mode, device, dtype: as ``nn.Conv2d`` (``padding_mode='zeros'`` only); the
            bias starts at zero, as in the reference.
        warehouse_manager: the :class:`KernelWarehouseManager` whose warehouse
            ``warehouse_name`` this layer takes its cells from (the manager is not a submodule
            of the layer; the network that holds it calls ``store()`` and ``allocate()`` once
            every layer is reserved). None (e.g. ``conv_cfg=dict(type='KWConv2d')``): the layer
            makes a private manager with the options below and a warehouse of its own.
        warehouse_name: names sharing a warehouse (after the manager's ``sharing_range``).
        reduction, cell_num_ratio, cell_inplane_ratio, cell_outplane_ratio,
            nonlocal_basis_ratio: the private manager's options
            (:class:`KernelWarehouseManager`); ignored with a shared manager.
        temperature: t in [0, 1] (module docstring); default 0.
    """

    layer_name = 'KWConv2d'

    def __init__(self, in_channels: int, out_channels: int, kernel_size: _IntPair,
                 stride: _IntPair = 1, padding: Union[str, _IntPair] = 0,
                 dilation: _IntPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = 'zeros', device=None, dtype=None, *,
                 warehouse_manager: Optional['KernelWarehouseManager'] = None,
                 warehouse_name: str = 'default', reduction: float = 0.0625,
                 cell_num_ratio: float = 1.0, cell_inplane_ratio: float = 1.0,
                 cell_outplane_ratio: float = 1.0, nonlocal_basis_ratio: float = 1.0,
                 temperature: float = 0.0):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)
        self.bias = nn.Parameter(torch.zeros(out_channels, **self.factory_kwargs)) \
            if bias else None
        self.attention = None  # made by allocate(), once the warehouse exists
        self.initial_temperature = temperature
        private = warehouse_manager is None
        if private:
            warehouse_manager = KernelWarehouseManager(
                reduction=reduction, cell_num_ratio=cell_num_ratio,
                cell_inplane_ratio=cell_inplane_ratio, cell_outplane_ratio=cell_outplane_ratio,
                nonlocal_basis_ratio=nonlocal_basis_ratio, sharing_range=())
        self.warehouse_id = warehouse_manager.reserve(self, warehouse_name)
        self._manager = [warehouse_manager]  # a list: not a submodule of a shared layer
        if private:
            self.warehouse_manager = warehouse_manager
            warehouse_manager.store(**self.factory_kwargs)
            warehouse_manager.allocate(self)

    @property
    def cells(self) -> torch.Tensor:
        """The warehouse ``(M, cell_out, cell_in, 1, 1)`` this layer mixes."""
        return self._manager[0].weights[self.warehouse_id]

    def init_attention(self, cell_shape: Sequence[int], start: int, reduction: float,
                       cell_num_ratio: float, nonlocal_basis_ratio: float = 1.0) -> int:
        """Make the attention for a warehouse of ``cell_shape`` and assign cells from
        ``start`` (called by the manager's ``allocate``); returns the next free cell."""
        num_cells, cell_out, cell_in = cell_shape[:3]
        self.cell_shape = tuple(cell_shape)
        self.groups_out = self.out_channels // cell_out
        self.groups_in = self.in_channels // self.groups // cell_in
        self.groups_spatial = math.prod(k // c for k, c in zip(self.kernel_size, cell_shape[3:]))
        num_mixtures = self.groups_out * self.groups_in * self.groups_spatial
        self.attention = _CellAttention(self.in_channels, reduction, num_cells, num_mixtures,
                                        self.factory_kwargs, start, cell_num_ratio,
                                        nonlocal_basis_ratio)
        self.update_temperature(self.initial_temperature)
        return self.attention.assign_cells(start, cell_num_ratio)

    def update_temperature(self, temperature: float) -> None:
        """Set t in [0, 1] (what ``TemperatureScheduleHook`` calls)."""
        check_option(self.layer_name, 'temperature', temperature,
                     isinstance(temperature, (int, float)) and 0 <= temperature <= 1,
                     'a number in [0, 1]')
        self.attention.temperature = float(temperature)

    def cell_attention(self, x: torch.Tensor) -> torch.Tensor:
        """``(B * m, M)`` attention of every mixture over the cells, for x ``(B, in, H, W)``."""
        return self.attention(pooled(x))

    def _forward_batch(self, x: torch.Tensor) -> torch.Tensor:
        if self.attention is None:
            raise RuntimeError('KWConv2d: its warehouse manager has not allocated the '
                               'warehouses yet (call store() and allocate(network))')
        batch = x.shape[0]
        cells = self.cells
        mixed = self.cell_attention(x) @ cells.flatten(1)
        mixed = mixed.view(batch, self.groups_spatial, self.groups_out, self.groups_in,
                           *cells.shape[1:])
        # (B, spatial, out blocks, in blocks, cell_out, cell_in, ch, cw) ->
        # (B, out blocks, cell_out, in blocks, cell_in, spatial, ch, cw)
        weight = mixed.permute(0, 2, 4, 3, 5, 1, 6, 7).reshape(
            batch, self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        return self.conv_per_sample(x, weight, self.bias)


class KernelWarehouseManager(nn.Module):
    """The warehouses of a network (``weights``: one ``(M, cell_out, cell_in, 1, 1)`` parameter
    per warehouse) and their layout. Use: build the layers with ``warehouse_manager=manager``
    (each reserves a place), then ``store()`` (creates the warehouses) and
    ``allocate(network)`` (makes each layer's attention, assigns and initialises its cells, in
    ``network.modules()`` order).

    Args (the reference's, scalars for every warehouse):
        reduction: attention hidden width ``max(int(in * reduction), 16)`` (1/16).
        cell_num_ratio: cells in a warehouse / mixtures of its layers (1 for "KW (1x)", 4 for
            "KW (4x)"; below 1 the warehouse holds fewer cells than the layers have mixtures).
        cell_inplane_ratio, cell_outplane_ratio: cell input / output channels as a fraction of
            the greatest common divisor of the warehouse's layers' input / output channels (1).
        nonlocal_basis_ratio: below 1, each layer's attention reaches the cells of the other
            layers of its warehouse through ``max(int(their number * ratio), 16)`` basis
            vectors (``fc3``), which saves parameters in large warehouses (the authors' "KW
            (1/2x)" ResNet-50 uses 1/16); 1 (or more): direct logits for every cell.
        sharing_range: name prefixes that are merged: with ``('layer', 'conv')`` (the authors'
            ResNet setting) the layer named ``stage2_layer3_conv1`` uses the warehouse
            ``stage2_layer_conv``: all convs of a stage share one warehouse; with
            ``('layer',)`` it is ``stage2_layer_conv1``.
    """

    def __init__(self, reduction: float = 0.0625, cell_num_ratio: float = 1.0,
                 cell_inplane_ratio: float = 1.0, cell_outplane_ratio: float = 1.0,
                 nonlocal_basis_ratio: float = 1.0,
                 sharing_range: Sequence[str] = ('layer', 'conv')):
        super().__init__()
        name = 'KernelWarehouseManager'
        for option, value in (('reduction', reduction), ('cell_num_ratio', cell_num_ratio),
                              ('cell_inplane_ratio', cell_inplane_ratio),
                              ('cell_outplane_ratio', cell_outplane_ratio),
                              ('nonlocal_basis_ratio', nonlocal_basis_ratio)):
            check_option(name, option, value,
                         isinstance(value, (int, float)) and not isinstance(value, bool)
                         and value > 0, 'a number > 0')
        check_option(name, 'reduction', reduction, reduction <= 1, 'a number in (0, 1]')
        check_option(name, 'sharing_range', sharing_range,
                     not isinstance(sharing_range, str) and all(
                         isinstance(part, str) for part in sharing_range),
                     "a sequence of name parts, e.g. ('layer', 'conv')")
        self.reduction, self.cell_num_ratio = reduction, cell_num_ratio
        self.cell_inplane_ratio, self.cell_outplane_ratio = cell_inplane_ratio, cell_outplane_ratio
        self.nonlocal_basis_ratio = nonlocal_basis_ratio
        self.sharing_range = tuple(sharing_range)
        self._layouts: Dict[str, List[Tuple[int, ...]]] = {}  # warehouse -> kernel shapes
        self.weights = None

    def warehouse_of(self, layer_name: str) -> str:
        """The warehouse a layer name maps to under ``sharing_range``."""
        parts = []
        for part in layer_name.split('_'):
            for shared in self.sharing_range:
                if part.startswith(shared):
                    part = shared
            parts.append(part)
        return '_'.join(parts)

    def reserve(self, layer: KWConv2d, layer_name: str) -> int:
        """Record ``layer``'s kernel shape in its warehouse; returns the warehouse's index."""
        if self.weights is not None:
            raise RuntimeError('KernelWarehouseManager: store() has run; no layer can be added')
        warehouse = self.warehouse_of(layer_name)
        self._layouts.setdefault(warehouse, []).append(
            (layer.out_channels, layer.in_channels // layer.groups, *layer.kernel_size))
        return list(self._layouts).index(warehouse)

    @property
    def warehouse_names(self) -> List[str]:
        return list(self._layouts)

    def store(self, device=None, dtype=None) -> None:
        """Create the warehouses from the reserved layers."""
        self.weights = nn.ParameterList()
        for shapes in self._layouts.values():
            out_gcd = math.gcd(*(shape[0] for shape in shapes))
            in_gcd = math.gcd(*(shape[1] for shape in shapes))
            cell_in = max(int(in_gcd * self.cell_inplane_ratio), 1)
            cell_out = max(int(out_gcd * self.cell_outplane_ratio), 1)
            mixtures = sum(shape[0] // cell_out * shape[1] // cell_in * shape[2] * shape[3]
                           for shape in shapes)
            num_cells = max(int(mixtures * self.cell_num_ratio), 1)
            self.weights.append(nn.Parameter(torch.randn(num_cells, cell_out, cell_in, 1, 1,
                                                         device=device, dtype=dtype)))

    def allocate(self, network: nn.Module) -> None:
        """Make every layer's attention and assign and initialise its cells (kaiming normal,
        fan_out, on the layer's cells viewed as one kernel stack, as the reference does)."""
        ends = [0] * len(self.weights)
        for layer in network.modules():
            if not isinstance(layer, KWConv2d) or layer._manager[0] is not self:
                continue
            index = layer.warehouse_id
            cells = self.weights[index]
            start = ends[index]
            ends[index] = layer.init_attention(tuple(cells.shape), start, self.reduction,
                                               self.cell_num_ratio, self.nonlocal_basis_ratio)
            with torch.no_grad():
                nn.init.kaiming_normal_(cells[start:ends[index]].view(-1, *cells.shape[2:]),
                                        mode='fan_out', nonlinearity='relu')
        for index, end in enumerate(ends):
            if end != self.weights[index].shape[0]:
                raise ValueError(f'KernelWarehouseManager: cell_num_ratio={self.cell_num_ratio} '
                                 f'gives warehouse {self.warehouse_names[index]!r} '
                                 f'{self.weights[index].shape[0]} cells, but its layers are '
                                 f'assigned {end}; cell_num_ratio must be a whole number, or '
                                 f'1 / n for layouts whose mixtures split evenly')

    def extra_repr(self) -> str:
        basis = (f', nonlocal_basis_ratio={self.nonlocal_basis_ratio}'
                 if self.nonlocal_basis_ratio < 1 else '')
        return (f'warehouses={len(self._layouts)}, cell_num_ratio={self.cell_num_ratio}'
                f'{basis}, sharing_range={self.sharing_range}')
