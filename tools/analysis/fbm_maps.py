"""Frequency Band Modulation maps of FDConv layers (FDConv paper Fig. 6).

    python tools/analysis/fbm_maps.py CONFIG CHECKPOINT IMAGE [IMAGE ...] [--layers 0 -1]

For the selected FDConv layers with FBM (names or positions among them; default the first and the
last): the spatial modulation map of every frequency band (highest band first; the low band is
unmodulated unless ``lowfreq_att``), FBM's input and output feature (L2 norm over channels) and
their spectra, for the first image. Writes ``<label>_fbm_<layer>.png`` per layer and prints the
maps' statistics and the share of spectral energy at r >= 0.25 before and after FBM.
"""
import argparse

import torch

from mmfreq.analysis.hooks import ModuleRecorder
from mmfreq.analysis.modulation import fbm_band_maps
from mmfreq.analysis.runner import (add_common_args, backbone_of, format_table,
                                    load_images, models_from_args, pyplot, save_figure,
                                    select_names, slug)
from mmfreq.analysis.spectral import (high_frequency_energy_ratio,
                                      log_amplitude_spectrum)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_common_args(parser, baseline=False)
    parser.add_argument('--layers', nargs='+', default=['0', '-1'],
                        help='FDConv layers with FBM: names or positions (default: 0 -1)')
    args = parser.parse_args(argv)
    (am,) = models_from_args(args)
    backbone = backbone_of(am.model)
    available = [n for n, m in backbone.named_modules() if getattr(m, 'FBM', None) is not None]
    if not available:
        print(f'{am.label}: no FDConv layer with FBM')
        return {}
    layers = select_names(available, args.layers)
    batch, shown = load_images(args.images, tuple(args.size), am.model)
    fbm_names = [f'{name}.FBM' for name in layers]
    device = next(backbone.parameters()).device
    with ModuleRecorder(backbone, fbm_names) as recorder, torch.no_grad():
        backbone(batch.to(device))
    modules = dict(backbone.named_modules())
    plt = pyplot()
    results, rows = {}, []
    for layer, fbm_name in zip(layers, fbm_names):
        x, y = recorder.inputs[fbm_name][0], recorder.outputs[fbm_name][0]
        maps = fbm_band_maps(modules[fbm_name], x.to(device)).cpu()  # (B, n, groups, h, w)
        hf_in = float(high_frequency_energy_ratio(x - x.mean(dim=(-2, -1), keepdim=True)).mean())
        hf_out = float(high_frequency_energy_ratio(y - y.mean(dim=(-2, -1), keepdim=True)).mean())
        results[layer] = dict(maps=maps, high_frequency_energy_in=hf_in,
                              high_frequency_energy_out=hf_out)
        for band in range(maps.shape[1]):
            m = maps[:, band]
            rows.append([layer, band, float(m.mean()), float(m.std()), float(m.min()),
                         float(m.max()), hf_in if band == 0 else '', hf_out if band == 0 else ''])

        panels = [('(a) input', shown[0], None)]
        for band in range(maps.shape[1]):
            band_map = maps[0, band].mean(0)
            panels.append((f'band {band} map\n{band_map.min():.3f}..{band_map.max():.3f}',
                           band_map.numpy(), 'jet'))
        panels += [('FBM input', torch.linalg.vector_norm(x[0], dim=0).numpy(), 'viridis'),
                   ('FBM output', torch.linalg.vector_norm(y[0], dim=0).numpy(), 'viridis'),
                   ('input spectrum', log_amplitude_spectrum(x[0], reduce_dims=(0,)).numpy(),
                    'jet'),
                   ('output spectrum', log_amplitude_spectrum(y[0], reduce_dims=(0,)).numpy(),
                    'jet')]
        fig, axes = plt.subplots(1, len(panels), figsize=(2.4 * len(panels), 2.7))
        for ax, (title, image, cmap) in zip(axes, panels):
            ax.imshow(image, cmap=cmap)
            ax.set_title(title, fontsize=8)
            ax.axis('off')
        fig.suptitle(f'{am.label}: FBM of {layer}', fontsize=9)
        save_figure(fig, args.out_dir, f'{slug(am.label)}_fbm_{slug(layer)}')
    print(f'\n## {am.label}: FBM band maps (band 0 = highest) and high-frequency energy share')
    print(format_table(['layer', 'band', 'mean', 'std', 'min', 'max', 'HF energy in',
                        'HF energy out'], rows))
    return results


if __name__ == '__main__':
    main()
