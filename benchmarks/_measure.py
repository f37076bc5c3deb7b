"""What the benchmark scripts measure, and how: round-robin timing, the bytes autograd saves for
backward, CUDA peak memory, and a line naming the machine.

Imported by the scripts in this folder (``python benchmarks/bench_*.py`` puts the folder on the
import path).
"""
import contextlib
import os
import platform
import statistics
import time
from typing import Callable, Dict, List, Optional

import torch
from torch import nn

CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}
# what the memory columns hold on each device
MEMORY_KIND = {'cpu': 'saved for backward', 'cuda': 'peak allocated'}
STATS = {'median': statistics.median, 'min': min}


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def round_robin_times(steps: Dict[str, Callable[[], object]], device: torch.device, repeats: int,
                      clock: str = 'wall', warmup: int = 2) -> Dict[str, List[float]]:
    """Seconds of each of ``repeats`` runs of every step, run one of each in turn per round (so
    that background load affects them alike), after ``warmup`` untimed rounds."""
    now = CLOCKS[clock]
    times = {name: [] for name in steps}
    for round_index in range(warmup + repeats):
        for name, step in steps.items():
            synchronize(device)
            start = now()
            step()
            synchronize(device)
            if round_index >= warmup:
                times[name].append(now() - start)
    return times


def round_robin(steps: Dict[str, Callable[[], object]], device: torch.device, repeats: int,
                stat: str, clock: str = 'wall', warmup: int = 2) -> Dict[str, float]:
    """:func:`round_robin_times` reduced to one statistic per step (``'median'`` or ``'min'``)."""
    times = round_robin_times(steps, device, repeats, clock, warmup)
    return {name: STATS[stat](values) for name, values in times.items()}


def step_time(step: Callable[[], object], device: torch.device, repeats: int, stat: str,
              clock: str = 'wall', warmup: int = 2) -> float:
    """Seconds of one step (``stat`` of ``repeats`` runs after ``warmup`` untimed ones)."""
    return round_robin({'step': step}, device, repeats, stat, clock, warmup)['step']


def selected_devices(choice: str) -> List[torch.device]:
    """Devices of a ``--device`` option: ``cpu``, ``cuda``, or ``all`` (CPU, and CUDA when
    present)."""
    devices = [torch.device('cpu')] if choice in ('cpu', 'all') else []
    if choice == 'cuda' or (choice == 'all' and torch.cuda.is_available()):
        devices.append(torch.device('cuda'))
    return devices


def saved_for_backward_bytes(module: nn.Module, *inputs: torch.Tensor) -> int:
    """Bytes of the tensors autograd saves for backward in one forward of ``module``: each storage
    counted once, parameters included (what a training step keeps alive between forward and
    backward). Run in the module's current mode; the graph is freed on return."""
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = module(*inputs)
    del out
    return sum(storages.values())


def cuda_peak_bytes(step: Callable[[], object], device: torch.device) -> int:
    """Peak CUDA memory allocated during ``step`` beyond what was allocated before it."""
    synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    step()
    synchronize(device)
    return torch.cuda.max_memory_allocated(device) - base


def num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def training_step(model: nn.Module, *inputs: torch.Tensor) -> None:
    """Forward and backward of ``model``, whose output is a tensor or a sequence of tensors."""
    model.zero_grad(set_to_none=True)
    outputs = model(*inputs)
    outputs = [outputs] if isinstance(outputs, torch.Tensor) else outputs
    sum(out.float().sum() for out in outputs).backward()


def training_memory(model: nn.Module, step: Callable[[], object], *inputs: torch.Tensor) -> int:
    """Memory of one training ``step`` of ``model`` on ``inputs`` (:data:`MEMORY_KIND`): on CUDA
    the peak allocated during ``step``, elsewhere the bytes saved for backward by a forward.
    Gradients are cleared before and after."""
    model.zero_grad(set_to_none=True)
    try:
        if inputs[0].device.type == 'cuda':
            return cuda_peak_bytes(step, inputs[0].device)
        return saved_for_backward_bytes(model, *inputs)
    finally:
        model.zero_grad(set_to_none=True)


def layer_measurements(modules: Dict[str, nn.Module], x: torch.Tensor, repeats: int, stat: str,
                       clock: str = 'wall',
                       amp: Optional[torch.dtype] = None) -> Dict[str, Dict[str, float]]:
    """Per layer of ``modules`` (all taking ``x``): ``fwd`` (eval forward, no autograd) and
    ``fwd_bwd`` (train forward + backward to the parameters and the input) seconds, timed
    round-robin, and ``memory`` (:func:`training_memory`) bytes; under autocast in ``amp`` if
    given."""
    x_grad = x.detach().requires_grad_(True)

    def autocast():
        return torch.autocast(x.device.type, amp) if amp else contextlib.nullcontext()

    def forward(module):
        with torch.no_grad(), autocast():
            module(x)

    def forward_backward(module):
        module.zero_grad(set_to_none=True)
        x_grad.grad = None
        with autocast():
            out = module(x_grad)
        out.float().sum().backward()

    results = {name: {} for name in modules}
    for key, step, train in (('fwd', forward, False), ('fwd_bwd', forward_backward, True)):
        for module in modules.values():
            module.train(train)
        times = round_robin({name: (lambda m=m: step(m)) for name, m in modules.items()},
                            x.device, repeats, stat, clock)
        for name in modules:
            results[name][key] = times[name]
    for name, module in modules.items():
        results[name]['memory'] = training_memory(module, lambda: forward_backward(module), x_grad)
    return results


def parse_shape(text: str):
    """``'256@14'`` (or ``'c256@14²'``) -> ``(channels, size)``, for ``--shapes`` options."""
    channels, size = text.lower().lstrip('c').split('@')
    return int(channels), int(size.rstrip('²'))


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what Python's platform module says."""
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    """One line naming the machine: CPU model and cores, torch and its CPU threads, CUDA device."""
    line = (f'{cpu_model()}, {os.cpu_count()} cores; torch {torch.__version__}, '
            f'{torch.get_num_threads()} CPU threads')
    if torch.cuda.is_available():
        line += f'; CUDA device: {torch.cuda.get_device_name()}'
    return line
