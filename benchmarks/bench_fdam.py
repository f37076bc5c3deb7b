"""Latency of a DeiT-S backbone: plain vs +AttInv vs +AttInv+FreqScale (FDAM supplementary Table 4).

The backbone is built here from torch and mmfreq's layers (DeiT-S: patch 16, dim 384, 12 blocks,
6 heads, MLP ratio 4, class token, 14x14 position embedding resized bicubically to the token grid,
final LayerNorm, feature maps taken after blocks 2, 5, 8, 11 as for the multi-level neck). The paper
reports 121.1 / 124.2 / 135.8 ms (+2.6% / +12%) on an RTX 3090 at 512x2048, batch 1.

Variants are timed round-robin (one forward of each in turn, per repeat) so that background load
affects them alike; median and minimum are reported.

    python benchmarks/bench_fdam.py                         # CPU (and CUDA when present)
    python benchmarks/bench_fdam.py --devices cpu --repeats 3 --sizes 512x512 512x2048
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

try:
    from mmfreq.layers import FDAMBlock
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from mmfreq.layers import FDAMBlock

VARIANTS = {
    'plain': dict(attn_inv=False, freq_scale=None),
    '+AttInv': dict(attn_inv=True, freq_scale=None),
    '+AttInv+FreqScale': dict(attn_inv=True, freq_scale=dict(mode='group', num_filters=4,
                                                             groups=16, size=14)),
}


class DeiTSmallBackbone(nn.Module):
    """DeiT-S (patch 16, dim 384, depth 12, 6 heads) with optional FDAM; returns 4 maps."""

    def __init__(self, attn_inv: bool, freq_scale, dim: int = 384, depth: int = 12,
                 num_heads: int = 6, patch_size: int = 16, pretrain_grid: int = 14,
                 out_indices=(2, 5, 8, 11)):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + pretrain_grid ** 2, dim) * 0.02)
        self.blocks = nn.ModuleList(
            FDAMBlock(dim, num_heads, qkv_bias=True, attn_inv=attn_inv, freq_scale=freq_scale)
            for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pretrain_grid = pretrain_grid
        self.out_indices = out_indices

    def resized_pos_embed(self, hw):
        cls_pos, grid_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        g = self.pretrain_grid
        grid_pos = grid_pos.reshape(1, g, g, -1).permute(0, 3, 1, 2)
        grid_pos = F.interpolate(grid_pos, size=hw, mode='bicubic', align_corners=False)
        return torch.cat([cls_pos, grid_pos.flatten(2).transpose(1, 2)], dim=1)

    def forward(self, img):
        x = self.patch_embed(img)
        hw = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + self.resized_pos_embed(hw)
        outs = []
        for i, block in enumerate(self.blocks):
            x = block(x, hw, num_prefix_tokens=1)
            if i == len(self.blocks) - 1:
                x = self.norm(x)
            if i in self.out_indices:
                outs.append(x[:, 1:].transpose(1, 2).reshape(x.shape[0], -1, *hw))
        return outs


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_variants(models, img, repeats, warmup, dtype):
    device = img.device
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
    times = {name: [] for name in models}
    with torch.inference_mode(), autocast:
        for _ in range(warmup):
            for model in models.values():
                model(img)
        _sync(device)
        for _ in range(repeats):
            for name, model in models.items():
                _sync(device)
                start = time.perf_counter()
                model(img)
                _sync(device)
                times[name].append((time.perf_counter() - start) * 1e3)
    return ({name: statistics.median(t) for name, t in times.items()},
            {name: min(t) for name, t in times.items()})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--devices', nargs='+', default=None,
                        help='cpu and/or cuda (default: cpu, plus cuda when available)')
    parser.add_argument('--sizes', nargs='+', default=['512x512', '512x2048'])
    parser.add_argument('--repeats', type=int, default=None,
                        help='timed forwards per variant (default: 3 on CPU, 50 on CUDA)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed forwards per variant (default: 1 on CPU, 10 on CUDA)')
    parser.add_argument('--dtype', choices=['fp32', 'bf16', 'fp16'], default='fp32',
                        help='autocast dtype (fp32 = no autocast)')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or (['cpu'] + (['cuda'] if torch.cuda.is_available() else []))
    dtype = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}[args.dtype]

    torch.manual_seed(0)
    rows = []
    for device_name in devices:
        device = torch.device(device_name)
        models = {name: DeiTSmallBackbone(**cfg).to(device).eval()
                  for name, cfg in VARIANTS.items()}
        params = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
        on_cuda = device.type == 'cuda'
        repeats = args.repeats or (50 if on_cuda else 3)
        warmup = args.warmup if args.warmup is not None else (10 if on_cuda else 1)
        label = torch.cuda.get_device_name(device) if on_cuda else \
            f'CPU ({torch.get_num_threads()} threads)'
        for size in args.sizes:
            h, w = (int(v) for v in size.split('x'))
            img = torch.randn(1, 3, h, w, device=device)
            median_ms, min_ms = time_variants(models, img, repeats, warmup, dtype)
            rows.append((label, size, repeats, 'median', median_ms))
            rows.append((label, size, repeats, 'min', min_ms))
            print(f'done: {label} {size} median {median_ms}', flush=True)

    names = list(VARIANTS)
    print()
    print(f'DeiT-S backbone, batch 1, {args.dtype}; params: '
          + ', '.join(f'{n} {params[n] / 1e6:.2f}M' for n in names)
          + ' (min is the steadier statistic on a shared CPU)')
    print()
    print('| device | input (HxW) | repeats | stat | ' + ' | '.join(f'{n} (ms)' for n in names)
          + ' | +AttInv / plain | +AttInv+FreqScale / plain |')
    print('|' + '---|' * (6 + len(names)))
    for label, size, repeats, stat, ms in rows:
        base = ms['plain']
        print(f'| {label} | {size} | {repeats} | {stat} | '
              + ' | '.join(f'{ms[n]:.1f}' for n in names)
              + f' | {ms["+AttInv"] / base:.3f} | {ms["+AttInv+FreqScale"] / base:.3f} |')
    print('| paper: RTX 3090 | 512x2048 | | | 121.1 | 124.2 | 135.8 | 1.026 | 1.121 |')


if __name__ == '__main__':
    main()
