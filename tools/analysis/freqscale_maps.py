"""Learned FreqScale modulation (FDAM supplementary Fig. 8): the frequency weight every FreqScale
applies, centre = low frequencies.

    python tools/analysis/freqscale_maps.py CONFIG CHECKPOINT IMAGE [IMAGE ...] [--size 512 512]

For every ``freq_scale_1`` / ``freq_scale_2`` module: the weight ``w`` it multiplies the rfft2 of
its input with (the residual block's gain is ``1 + w``), averaged over the images and channels,
on the full centred DFT grid of its input. Writes ``<label>_freqscale_maps.png`` and prints per
module the mean weight at DC, in the low band (0 < r < 0.25) and in the high band (r >= 0.25).
"""
import argparse

import torch

from mmfreq.analysis.hooks import ModuleRecorder
from mmfreq.analysis.layerwise import summarize_response
from mmfreq.analysis.modulation import freq_scale_map
from mmfreq.analysis.runner import (add_common_args, backbone_of, format_table,
                                    load_images, map_grid, models_from_args, save_figure, slug)
from mmfreq.layers import FreqScale


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    args = add_common_args(parser, baseline=False).parse_args(argv)
    (am,) = models_from_args(args)
    batch, _ = load_images(args.images, tuple(args.size), am.model)
    backbone = backbone_of(am.model)
    names = [n for n, m in backbone.named_modules() if isinstance(m, FreqScale)]
    if not names:
        print(f'{am.label}: no FreqScale modules')
        return {}
    device = next(backbone.parameters()).device
    with ModuleRecorder(backbone, names) as recorder, torch.no_grad():
        backbone(batch.to(device))
    modules = dict(backbone.named_modules())
    results, rows, maps = {}, [], []
    for name in names:
        if not recorder.inputs[name]:
            continue
        x = recorder.inputs[name][0].to(device)
        weight = freq_scale_map(modules[name], x)
        summary = summarize_response(weight)
        results[name] = dict(map=weight, **summary)
        rows.append([name, tuple(x.shape[-2:]), summary['dc'], summary['low'], summary['high'],
                     float(weight.abs().max())])
        maps.append((name, weight.numpy()))
    print(f'\n## {am.label}: FreqScale frequency weight w (gain 1 + w), mean over channels')
    print(format_table(['module', 'input HxW', 'w at DC', 'w low band', 'w high band', 'max |w|'],
                       rows, digits=5))
    limit = max(abs(float(m.min())) for _, m in maps)
    limit = max(limit, max(abs(float(m.max())) for _, m in maps), 1e-12)
    fig = map_grid(maps, f'{am.label}: FreqScale weight (centre = low frequency)',
                   cmap='magma', vmin=-limit, vmax=limit)
    save_figure(fig, args.out_dir, f'{slug(am.label)}_freqscale_maps')
    return results


if __name__ == '__main__':
    main()
