"""Benchmark FDConv against nn.Conv2d at ResNet-50 stage shapes (3x3, stride 1, padding 1).

Shapes (``--preset``): ``dense`` (default), the ResNet-50 stages of a 512x512 input
(c64@128², c128@64², c256@32², c512@16², dense prediction), or ``224`` (c64@56², c128@28², c256@14²,
c512@7², classification and small inputs); batch 2 and 8; or any ``--shapes``. FDConv with the
detection configs' ``kernel_num=64`` and the release defaults otherwise. Variants: the plain conv, FDConv as built
(``recompute=True``: keeps only its input and small factors for backward), FDConv with
``recompute=False`` (keeps the per-sample weights), and with ``--release DIR`` the authors' own
module from a checkout of github.com/Linwei-Chen/FDConv (same state dict). Prints per variant:

* the forward time in eval mode (no autograd) and the forward+backward time in train mode
  (gradients of the parameters and of the input, as for a layer inside a network), each also
  as a multiple of the plain conv;
* memory: on the CPU the bytes autograd saves for backward in one training forward (unique
  storages, parameters included: what a training step keeps alive between forward and backward);
  on CUDA the peak allocated memory of forward+backward beyond what was allocated before.

The variants are timed round-robin (one step of each in turn, per repeat), so that background load
affects them alike; the table gives the median (``--stat min``: the minimum) of ``--repeats``
rounds after two warm-up rounds, on the wall clock (``--clock cpu``: process CPU time, which with
``--threads 1`` does not count time spent waiting for a core shared with other jobs).

``--parts`` prints, instead, the forward+backward time of single steps, each as a multiple of the
plain conv: two that any implementation of FDConv's math has to take, the per-sample conv (one
grouped conv over the batch, one standard-layout weight per sample) and the per-sample inverse
``rfft2`` of the FDW spectrum with its adjoint (an ``rfft2``), plus this package's FBM. Their sum is
a floor under the FDConv/conv ratio before any of the elementwise work on the per-sample weights
(kernel attention, KSM maps, their gradients) is counted.

``--chunk-bytes N`` sets the CPU chunk size of :mod:`mmfreq.layers.batch_chunks` (how many samples
FDConv processes at once), to measure the rule.

Usage: python benchmarks/bench_fdconv.py [--device cpu|cuda|all] [--repeats N] [--preset dense|224]
       [--shapes 256@14 ...] [--batches 2 8] [--threads N] [--release DIR] [--parts]
       [--chunk-bytes N] [--amp off fp16 bf16]
"""
import argparse
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from _measure import (CLOCKS, MEMORY_KIND, layer_measurements, machine_line, parse_shape,
                      selected_devices, step_time)
from mmfreq.layers import FDConv, batch_chunks
from mmfreq.release_modules import load_release_fdconv

PRESETS = {'dense': ((64, 128), (128, 64), (256, 32), (512, 16)),
           '224': ((64, 56), (128, 28), (256, 14), (512, 7))}


AMP_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}


def variants(channels: int, kernel_num: int, device: torch.device, release=None) -> dict:
    torch.manual_seed(0)
    modules = {'conv': nn.Conv2d(channels, channels, 3, padding=1)}
    fdconv = FDConv(channels, channels, 3, padding=1, kernel_num=kernel_num)
    modules['FDConv'] = fdconv
    modules['FDConv recompute=False'] = FDConv(channels, channels, 3, padding=1,
                                               kernel_num=kernel_num, recompute=False)
    modules['FDConv recompute=False'].load_state_dict(fdconv.state_dict())
    if release is not None:
        modules['release'] = release.FDConv(channels, channels, 3, padding=1,
                                            kernel_num=kernel_num)
        modules['release'].load_state_dict(fdconv.state_dict())
    return {name: module.to(device) for name, module in modules.items()}


def run(device: torch.device, shapes, batches, repeats: int, kernel_num: int, stat: str,
        clock: str, release=None, amp: Optional[str] = None) -> list:
    rows = []
    label = device.type + (f' {amp}' if amp else '')
    for channels, size in shapes:
        modules = variants(channels, kernel_num, device, release)
        for batch in batches:
            x = torch.randn(batch, channels, size, size, device=device)
            rows.append((label, f'c{channels}@{size}²', batch,
                         layer_measurements(modules, x, repeats, stat, clock,
                                            AMP_DTYPES.get(amp))))
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
    names = list(rows[0][3])
    lines = ['| device | shape | batch | variant | fwd ms | fwd x conv | fwd+bwd ms '
             '| fwd+bwd x conv | memory | MiB | memory x conv |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for device, shape, batch, results in rows:
        plain = results['conv']
        for name in names:
            result = results[name]
            lines.append(
                f'| {device} | {shape} | {batch} | {name} | {result["fwd"] * 1e3:.2f} '
                f'| {result["fwd"] / plain["fwd"]:.2f} | {result["fwd_bwd"] * 1e3:.2f} '
                f'| {result["fwd_bwd"] / plain["fwd_bwd"]:.2f} | {MEMORY_KIND[device.split()[0]]} '
                f'| {result["memory"] / 2 ** 20:.2f} '
                f'| {result["memory"] / max(plain["memory"], 1):.2f} |')
    return '\n'.join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='all', choices=('cpu', 'cuda', 'all'),
                        help='all = CPU, and CUDA when present')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--preset', default='dense', choices=tuple(PRESETS),
                        help='dense: ResNet-50 stages of a 512x512 input; 224: of a 224x224 one')
    parser.add_argument('--shapes', nargs='+', type=parse_shape, default=None,
                        help='channels@size, e.g. 768@128 (instead of the preset)')
    parser.add_argument('--batches', nargs='+', type=int, default=[2, 8])
    parser.add_argument('--kernel-num', type=int, default=64)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--stat', default='median', choices=('median', 'min'))
    parser.add_argument('--clock', default='wall', choices=tuple(CLOCKS),
                        help='cpu: process CPU time (all threads summed; with --threads 1 it '
                        'ignores time the process waits for a shared core)')
    parser.add_argument('--parts', action='store_true',
                        help='time the unavoidable steps of FDConv instead (module docstring)')
    parser.add_argument('--release', metavar='DIR',
                        help="also time the authors' FDConv from a checkout of "
                        'github.com/Linwei-Chen/FDConv')
    parser.add_argument('--amp', nargs='+', default=['off'], choices=('off', *AMP_DTYPES),
                        help='autocast dtypes to run (off: float32), e.g. --amp off fp16 bf16')
    parser.add_argument('--chunk-bytes', type=int, default=None,
                        help='CPU chunk size of mmfreq.layers.batch_chunks, in bytes')
    args = parser.parse_args(argv)
    args.shapes = args.shapes or list(PRESETS[args.preset])
    if args.chunk_bytes is not None:
        batch_chunks.CHUNK_BYTES = args.chunk_bytes
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = selected_devices(args.device)
    release = load_release_fdconv(args.release) if args.release and not args.parts else None
    rows = []
    for device in devices:
        if args.parts:
            rows += [(device.type, f'c{channels}@{size}²', batch,
                      measure_parts(device, channels, size, batch, args.repeats, args.kernel_num,
                                    args.stat, args.clock))
                     for channels, size in args.shapes for batch in args.batches]
        else:
            for amp in args.amp:
                rows += run(device, args.shapes, args.batches, args.repeats, args.kernel_num,
                            args.stat, args.clock, release, None if amp == 'off' else amp)
    print(machine_line())
    print(f'{args.clock} clock, {args.stat} of {args.repeats} repeats, '
          f'FDConv kernel_num={args.kernel_num}, chunks of {batch_chunks.CHUNK_BYTES} bytes')
    print(format_parts(rows) if args.parts else format_table(rows))


if __name__ == '__main__':
    main()
