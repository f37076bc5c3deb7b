"""Benchmark the six dynamic convolutions of FDConv's comparison (FDConv, CondConv, DY-Conv, DCD,
ODConv, KernelWarehouse) and the plain conv at ResNet-50 stage shapes: the table a user reads to
choose one.

Shapes (3x3, stride 1, padding 1, in = out channels): the four stages of a 512x512 input
(c64@128², c128@64², c256@32², c512@16²) and of a 224x224 one (c64@56² ... c512@7²), batch 2 and
8. Layers as the paper's rows configure them: FDConv ``kernel_num=64`` (the detection setting;
``--fdconv-kernel-num``), CondConv 8 experts, DY-Conv and ODConv 4 kernels, DCD, KW 1x and 4x
(one layer with a warehouse of its own; in a network the warehouse is shared, which changes the
parameter count, not the work per layer). All of them convolve the batch in one grouped conv
with one kernel per sample (DCD: plain convs and batched matrix products), no loop over samples.

Per layer: eval forward and train forward+backward (to the parameters and the input) times,
each also as a multiple of the plain conv, and memory: on the CPU the bytes autograd saves for
backward in one training forward, on CUDA the peak allocated memory of forward+backward; and the
parameter count. The layers are timed round-robin, median (``--stat min``: minimum) of
``--repeats`` rounds after two warm-up rounds.

Usage: python benchmarks/bench_dynamic_convs.py [--device cpu|cuda|all] [--repeats N]
       [--shapes 256@32 ...] [--batches 2 8] [--threads N] [--methods conv ODConv ...]
"""
import argparse

import torch
from torch import nn

from _measure import (CLOCKS, MEMORY_KIND, layer_measurements, machine_line, parse_shape,
                      selected_devices)
from mmfreq.layers import CondConv2d, DCDConv2d, DynamicConv2d, FDConv, KWConv2d, ODConv2d

SHAPES_512 = ((64, 128), (128, 64), (256, 32), (512, 16))
SHAPES_224 = ((64, 56), (128, 28), (256, 14), (512, 7))


def layer_builders(fdconv_kernel_num: int) -> dict:
    """name -> function(channels) building the 3x3 layer."""
    conv3x3 = dict(kernel_size=3, padding=1)
    return {
        'conv': lambda c: nn.Conv2d(c, c, **conv3x3),
        'FDConv': lambda c: FDConv(c, c, **conv3x3, kernel_num=fdconv_kernel_num),
        'CondConv (8)': lambda c: CondConv2d(c, c, **conv3x3, num_experts=8),
        'DY-Conv (4)': lambda c: DynamicConv2d(c, c, **conv3x3, kernel_num=4),
        'DCD': lambda c: DCDConv2d(c, c, **conv3x3),
        'ODConv (4)': lambda c: ODConv2d(c, c, **conv3x3, kernel_num=4),
        'KW (1x)': lambda c: KWConv2d(c, c, **conv3x3, cell_num_ratio=1),
        'KW (4x)': lambda c: KWConv2d(c, c, **conv3x3, cell_num_ratio=4),
    }


def run(device, shapes, batches, repeats, stat, clock, builders) -> list:
    rows = []
    for channels, size in shapes:
        torch.manual_seed(0)
        modules = {name: build(channels).to(device) for name, build in builders.items()}
        params = {name: sum(p.numel() for p in m.parameters()) for name, m in modules.items()}
        for batch in batches:
            x = torch.randn(batch, channels, size, size, device=device)
            results = layer_measurements(modules, x, repeats, stat, clock)
            for name in modules:
                results[name]['params'] = params[name]
            rows.append((device.type, f'c{channels}@{size}²', batch, results))
    return rows


def format_table(rows) -> str:
    lines = ['| device | shape | batch | layer | params | fwd ms | fwd x conv | fwd+bwd ms '
             '| fwd+bwd x conv | memory | MiB | memory x conv |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|']
    for device, shape, batch, results in rows:
        plain = results['conv']
        for name, result in results.items():
            lines.append(
                f'| {device} | {shape} | {batch} | {name} | {result["params"] / 1e3:.1f}K '
                f'| {result["fwd"] * 1e3:.2f} | {result["fwd"] / plain["fwd"]:.2f} '
                f'| {result["fwd_bwd"] * 1e3:.2f} | {result["fwd_bwd"] / plain["fwd_bwd"]:.2f} '
                f'| {MEMORY_KIND[device]} | {result["memory"] / 2 ** 20:.2f} '
                f'| {result["memory"] / max(plain["memory"], 1):.2f} |')
    return '\n'.join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='all', choices=('cpu', 'cuda', 'all'),
                        help='all = CPU, and CUDA when present')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--shapes', nargs='+', type=parse_shape,
                        default=list(SHAPES_512 + SHAPES_224), help='channels@size, e.g. 256@32')
    parser.add_argument('--batches', nargs='+', type=int, default=[2, 8])
    parser.add_argument('--fdconv-kernel-num', type=int, default=64)
    parser.add_argument('--methods', nargs='+', default=None,
                        help='a subset of the layers (names as in the table; conv is always in)')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--stat', default='median', choices=('median', 'min'))
    parser.add_argument('--clock', default='wall', choices=tuple(CLOCKS))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    builders = layer_builders(args.fdconv_kernel_num)
    if args.methods:
        unknown = set(args.methods) - set(builders)
        if unknown:
            parser.error(f'unknown --methods {sorted(unknown)}; choose from {list(builders)}')
        builders = {n: b for n, b in builders.items() if n == 'conv' or n in args.methods}
    rows = []
    for device in selected_devices(args.device):
        rows += run(device, args.shapes, args.batches, args.repeats, args.stat, args.clock,
                    builders)
    print(machine_line())
    print(f'{args.clock} clock, {args.stat} of {args.repeats} repeats, 3x3 convs, '
          f'FDConv kernel_num={args.fdconv_kernel_num}')
    print(format_table(rows))


if __name__ == '__main__':
    main()
