"""Latency and training memory of a DeiT-S backbone: stock mmseg, plain, +AttInv, +AttInv+FreqScale
(FDAM supplementary Table 4).

Variants: ``stock mmseg`` is mmseg's own ``VisionTransformer`` exactly as the Table 1 baseline
config builds it (configs/fdam/upernet_deit-s16_8xb2-160k_ade20k-512x512.py: attention through
``nn.MultiheadAttention``); the other three are built here from torch and mmfreq's layers
(DeiT-S: patch 16, dim 384, 12 blocks, 6 heads, MLP ratio 4, class token, 14x14 position
embedding resized bicubically to the token grid, final LayerNorm, feature maps taken after blocks
2, 5, 8, 11 as for the multi-level neck; attention through ``F.scaled_dot_product_attention``), so
``plain`` is the reference for what AttInv and FreqScale add, and ``stock mmseg`` for what a user
of the stock model sees. The paper reports 121.1 / 124.2 / 135.8 ms (+2.6% / +12%) for plain /
+AttInv / +AttInv+FreqScale on an RTX 3090 at 512x2048, batch 1.

Per variant and input size:

* latency of one eval forward, batch 1, under ``torch.inference_mode`` (and ``--dtype``
  autocast): the variants run round-robin (one forward of each in turn, per repeat) so that
  background load affects them alike; median and minimum of ``--repeats``, and the minimum as a
  multiple of the plain and of the stock model's;
* memory of one training step, batch 1: on the CPU the bytes autograd saves for backward in one
  training forward (unique storages, parameters included), on CUDA the peak allocated memory of
  forward+backward; also as a multiple of the plain model's. At 512x2048 the stock model keeps
  every layer's attention matrix, about 5 GiB.

    python benchmarks/bench_fdam.py                         # CPU (and CUDA when present)
    python benchmarks/bench_fdam.py --devices cpu --repeats 6 --sizes 512x512 --threads 2
"""
import argparse
import statistics

import torch
import torch.nn.functional as F
from torch import nn

from _backbones import DEIT_S_STOCK, config_backbone
from _measure import (MEMORY_KIND, machine_line, num_params, round_robin_times,
                      selected_devices, training_memory, training_step)
from mmfreq.layers import FDAMBlock

STOCK = 'stock mmseg'
VARIANTS = {
    'plain': dict(attn_inv=False, freq_scale=None),
    '+AttInv': dict(attn_inv=True, freq_scale=None),
    '+AttInv+FreqScale': dict(attn_inv=True, freq_scale=dict(mode='group', num_filters=4,
                                                             groups=16, size=14)),
}
PAPER_MS = {'plain': 121.1, '+AttInv': 124.2, '+AttInv+FreqScale': 135.8}  # RTX 3090, 512x2048


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


def build_models(device: torch.device) -> dict:
    torch.manual_seed(0)
    models = {STOCK: config_backbone(DEIT_S_STOCK)}
    models.update({name: DeiTSmallBackbone(**cfg) for name, cfg in VARIANTS.items()})
    for model in models.values():
        model.to(device).eval()  # (mmseg's train() returns None: no chaining)
    return models


def autocast(device: torch.device, dtype: torch.dtype):
    return torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)


def train_mode_memory(model: nn.Module, img: torch.Tensor, dtype: torch.dtype) -> int:
    """:func:`training_memory` of ``model`` (kept in eval mode otherwise) under autocast."""
    model.train()
    try:
        with autocast(img.device, dtype):
            return training_memory(model, lambda: training_step(model, img), img)
    finally:
        model.eval()


def measure(models: dict, img: torch.Tensor, repeats: int, warmup: int, dtype) -> dict:
    """Per variant: eval forward times (ms, round-robin) and training memory (bytes)."""
    forwards = {name: (lambda m=model: m(img)) for name, model in models.items()}
    with torch.inference_mode(), autocast(img.device, dtype):
        times = round_robin_times(forwards, img.device, repeats, warmup=warmup)
    return {name: dict(times_ms=[t * 1e3 for t in times[name]],
                       memory=train_mode_memory(model, img, dtype))
            for name, model in models.items()}


def format_table(rows) -> str:
    lines = ['| device | input (HxW) | variant | params (M) | repeats | median ms | min ms '
             '| min x plain | min x stock | memory | MiB | memory x plain |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|']
    for device, size, params, results in rows:
        plain_ms, stock_ms = min(results['plain']['times_ms']), min(results[STOCK]['times_ms'])
        plain_memory = max(results['plain']['memory'], 1)
        for name, result in results.items():
            times = result['times_ms']
            lines.append(
                f'| {device} | {size} | {name} | {params[name] / 1e6:.2f} | {len(times)} '
                f'| {statistics.median(times):.1f} | {min(times):.1f} '
                f'| {min(times) / plain_ms:.3f} | {min(times) / stock_ms:.3f} '
                f'| {MEMORY_KIND[device]} | {result["memory"] / 2 ** 20:.1f} '
                f'| {result["memory"] / plain_memory:.2f} |')
    return '\n'.join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--devices', nargs='+', default=None, choices=('cpu', 'cuda'),
                        help='default: cpu, plus cuda when available')
    parser.add_argument('--sizes', nargs='+', default=['512x512', '512x2048'])
    parser.add_argument('--repeats', type=int, default=None,
                        help='timed forwards per variant (default: 3 on CPU, 50 on CUDA)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed forwards per variant (default: 1 on CPU, 10 on CUDA)')
    parser.add_argument('--dtype', choices=['fp32', 'bf16', 'fp16'], default='fp32',
                        help='autocast dtype (fp32 = no autocast)')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ([torch.device(name) for name in args.devices] if args.devices
               else selected_devices('all'))
    dtype = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}[args.dtype]

    rows = []
    for device in devices:
        models = build_models(device)
        params = {name: num_params(model) for name, model in models.items()}
        on_cuda = device.type == 'cuda'
        repeats = args.repeats or (50 if on_cuda else 3)
        warmup = args.warmup if args.warmup is not None else (10 if on_cuda else 1)
        for size in args.sizes:
            h, w = (int(v) for v in size.split('x'))
            img = torch.randn(1, 3, h, w, device=device)
            rows.append((device.type, size, params, measure(models, img, repeats, warmup, dtype)))
            print(f'done: {device.type} {size}', flush=True)

    print()
    print(machine_line())
    print(f'DeiT-S backbone, batch 1, {args.dtype}; latency: eval forward, variants round-robin '
          f'(min is the steadier statistic on a shared CPU); memory: one training step')
    print()
    print(format_table(rows))
    print()
    print('paper (RTX 3090, 512x2048, batch 1): ' + ', '.join(
        f'{name} {ms} ms ({ms / PAPER_MS["plain"]:.3f} x plain)' for name, ms in PAPER_MS.items()))


if __name__ == '__main__':
    main()
