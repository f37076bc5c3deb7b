"""Benchmark FDConv against nn.Conv2d at ResNet-50 stage shapes (3x3, stride 1, padding 1).

Shapes: c64@56², c128@28², c256@14², c512@7², batch 2 and 8; FDConv with the detection configs'
``kernel_num=64`` and the release defaults otherwise. Prints a markdown table with the median
forward time (eval mode, no autograd), the median forward+backward time (train mode) and memory:

* CUDA: peak allocated memory during forward+backward (``torch.cuda.max_memory_allocated``, the
  module's parameters and the input excluded).
* CPU: PyTorch has no peak counter for CPU allocations; the column gives the bytes autograd saves
  for backward (unique storages, via ``saved_tensors_hooks``, parameters excluded, the input
  included), which is what a training step keeps alive between forward and backward.

Forward+backward computes the gradients of the parameters and of the input (a layer inside a
network). Times are the median (``--stat min``: the minimum, robust to other processes) of
``--repeats`` runs after two warm-up runs, on the wall clock (``--clock cpu``: process CPU time,
which with ``--threads 1`` does not count time spent waiting for a core shared with other jobs).

Target (issue 3): forward+backward within 3x of the plain conv at c256@14², batch 8, on CPU.

``--parts`` prints, instead, the forward+backward time of single steps, each as a multiple of the
plain conv: two that any implementation of FDConv's math has to take, the per-sample conv (one
grouped conv over the batch, one standard-layout weight per sample) and the per-sample inverse
``rfft2`` of the FDW spectrum with its adjoint (an ``rfft2``), plus this package's FBM. Their sum is
a floor under the FDConv/conv ratio before any of the elementwise work on the per-sample weights
(kernel attention, KSM maps, their gradients) is counted.

Usage: python benchmarks/bench_fdconv.py [--device cpu|cuda|all] [--repeats N] [--shapes 256@14 ...]
       [--batches 2 8] [--threads N] [--parts]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from mmfreq.layers import FDConv

STAGES = ((64, 56), (128, 28), (256, 14), (512, 7))


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}


def step_time(step, device: torch.device, repeats: int, stat: str, clock: str = 'wall',
              warmup: int = 2) -> float:
    now = CLOCKS[clock]
    for _ in range(warmup):
        step()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = now()
        step()
        synchronize(device)
        times.append(now() - start)
    return min(times) if stat == 'min' else statistics.median(times)


def saved_for_backward_bytes(module: nn.Module, x: torch.Tensor) -> int:
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = module(x)
    del out
    parameter_ptrs = {p.untyped_storage().data_ptr() for p in module.parameters()}
    return sum(size for ptr, size in storages.items() if ptr not in parameter_ptrs)


def cuda_peak_bytes(step, device: torch.device) -> int:
    synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    step()
    synchronize(device)
    return torch.cuda.max_memory_allocated(device) - base


def measure(module: nn.Module, x: torch.Tensor, repeats: int, stat: str, clock: str) -> dict:
    device = x.device

    def forward():
        with torch.no_grad():
            module(x)

    x_grad = x.detach().requires_grad_(True)  # a layer inside a network: input gradient too

    def forward_backward():
        module.zero_grad(set_to_none=True)
        x_grad.grad = None
        module(x_grad).sum().backward()

    module.eval()
    fwd = step_time(forward, device, repeats, stat, clock)
    module.train()
    fwd_bwd = step_time(forward_backward, device, repeats, stat, clock)
    if device.type == 'cuda':
        memory = cuda_peak_bytes(forward_backward, device)
    else:
        memory = saved_for_backward_bytes(module, x_grad)
    module.zero_grad(set_to_none=True)
    return dict(fwd=fwd, fwd_bwd=fwd_bwd, memory=memory)


def run(device: torch.device, shapes, batches, repeats: int, kernel_num: int, stat: str,
        clock: str) -> list:
    rows = []
    for channels, size in shapes:
        torch.manual_seed(0)
        conv = nn.Conv2d(channels, channels, 3, padding=1).to(device)
        fdconv = FDConv(channels, channels, 3, padding=1, kernel_num=kernel_num).to(device)
        for batch in batches:
            x = torch.randn(batch, channels, size, size, device=device)
            plain = measure(conv, x, repeats, stat, clock)
            dynamic = measure(fdconv, x, repeats, stat, clock)
            rows.append((device.type, f'c{channels}@{size}²', batch, plain, dynamic))
    return rows


def measure_parts(device: torch.device, channels: int, size: int, batch: int, repeats: int,
                  kernel_num: int, stat: str, clock: str) -> dict:
    """fwd+bwd seconds of the plain conv, FDConv, and the unavoidable steps of FDConv."""
    torch.manual_seed(0)
    conv = nn.Conv2d(channels, channels, 3, padding=1).to(device)
    fdconv = FDConv(channels, channels, 3, padding=1, kernel_num=kernel_num).to(device).train()
    x = torch.randn(batch, channels, size, size, device=device, requires_grad=True)
    # one weight per sample in the standard layout, the grouped conv's fastest
    weight = torch.randn(batch * channels, channels, 3, 3, device=device, requires_grad=True)
    d = channels * 3
    spectrum = torch.randn(batch, d, d // 2 + 1, dtype=torch.complex64, device=device,
                           requires_grad=True)

    def timed(step):
        return step_time(step, device, repeats, stat, clock)

    return {
        'conv': timed(lambda: conv(x).sum().backward()),
        'FDConv': timed(lambda: fdconv(x).sum().backward()),
        'per-sample conv': timed(lambda: F.conv2d(
            x.reshape(1, -1, size, size), weight, padding=1, groups=batch).sum().backward()),
        'per-sample irfft2 + adjoint': timed(
            lambda: torch.fft.irfft2(spectrum, s=(d, d)).sum().backward()),
        'FBM': timed(lambda: fdconv.FBM(x).sum().backward()),
    }


def format_parts(rows) -> str:
    lines = ['| device | shape | batch | conv ms | FDConv ms (ratio) | per-sample conv '
             '| per-sample irfft2 + adjoint | FBM | floor (sum) |',
             '|---|---|---|---|---|---|---|---|---|']
    for device, shape, batch, parts in rows:
        base = parts['conv']
        floor_parts = ('per-sample conv', 'per-sample irfft2 + adjoint', 'FBM')
        cells = [f'{parts[name] * 1e3:.1f} ms ({parts[name] / base:.2f}x)' for name in floor_parts]
        floor = sum(parts[name] for name in floor_parts) / base
        lines.append(f'| {device} | {shape} | {batch} | {base * 1e3:.1f} '
                     f'| {parts["FDConv"] * 1e3:.1f} ({parts["FDConv"] / base:.2f}x) '
                     f'| {" | ".join(cells)} | {floor:.2f}x |')
    return '\n'.join(lines)


def format_table(rows) -> str:
    memory_name = {'cpu': 'saved for bwd', 'cuda': 'peak alloc'}
    lines = ['| device | shape | batch | conv fwd ms | FDConv fwd ms | fwd ratio '
             '| conv fwd+bwd ms | FDConv fwd+bwd ms | fwd+bwd ratio | memory kind | conv MiB '
             '| FDConv MiB | mem ratio |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for device, shape, batch, plain, dynamic in rows:
        mib = 2.0 ** 20
        lines.append(
            f'| {device} | {shape} | {batch} | {plain["fwd"] * 1e3:.2f} '
            f'| {dynamic["fwd"] * 1e3:.2f} '
            f'| {dynamic["fwd"] / plain["fwd"]:.2f} | {plain["fwd_bwd"] * 1e3:.2f} '
            f'| {dynamic["fwd_bwd"] * 1e3:.2f} | {dynamic["fwd_bwd"] / plain["fwd_bwd"]:.2f} '
            f'| {memory_name[device]} | {plain["memory"] / mib:.1f} '
            f'| {dynamic["memory"] / mib:.1f} '
            f'| {dynamic["memory"] / max(plain["memory"], 1):.2f} |')
    return '\n'.join(lines)


def parse_shape(text: str):
    channels, size = text.lower().lstrip('c').split('@')
    return int(channels), int(size.rstrip('²'))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='all', choices=('cpu', 'cuda', 'all'),
                        help='all = CPU, and CUDA when present')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--shapes', nargs='+', type=parse_shape, default=list(STAGES),
                        help='channels@size, e.g. 256@14')
    parser.add_argument('--batches', nargs='+', type=int, default=[2, 8])
    parser.add_argument('--kernel-num', type=int, default=64)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--stat', default='median', choices=('median', 'min'))
    parser.add_argument('--clock', default='wall', choices=tuple(CLOCKS),
                        help='cpu: process CPU time (all threads summed; with --threads 1 it '
                        'ignores time the process waits for a shared core)')
    parser.add_argument('--parts', action='store_true',
                        help='time the unavoidable steps of FDConv instead (module docstring)')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = []
    if args.device in ('cpu', 'all'):
        devices.append(torch.device('cpu'))
    if args.device == 'cuda' or (args.device == 'all' and torch.cuda.is_available()):
        devices.append(torch.device('cuda'))
    rows = []
    for device in devices:
        if args.parts:
            rows += [(device.type, f'c{channels}@{size}²', batch,
                      measure_parts(device, channels, size, batch, args.repeats, args.kernel_num,
                                    args.stat, args.clock))
                     for channels, size in args.shapes for batch in args.batches]
        else:
            rows += run(device, args.shapes, args.batches, args.repeats, args.kernel_num,
                        args.stat, args.clock)
    print(f'torch {torch.__version__}, CPU threads {torch.get_num_threads()}, {args.clock} clock, '
          f'{args.stat} of {args.repeats} repeats, FDConv kernel_num={args.kernel_num}')
    if torch.cuda.is_available() and any(d.type == 'cuda' for d in devices):
        print(f'CUDA device: {torch.cuda.get_device_name()}')
    print(format_parts(rows) if args.parts else format_table(rows))


if __name__ == '__main__':
    main()
