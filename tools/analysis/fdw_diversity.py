"""Diversity of FDConv's Fourier Disjoint Weights (FDConv paper Fig. 5): pairwise cosine similarity
and frequency responses of the ``kernel_num`` weights of every FDConv layer.

    python tools/analysis/fdw_diversity.py CONFIG CHECKPOINT [--layers 0 -1] [--max-kernels 16]

Each disjoint frequency group of a layer's ``dft_weight`` gives one weight on its own (its inverse
DFT). Per layer (all FDW layers for the summary; ``--layers`` for the detailed plots): the mean and
max |cosine similarity| between different kernels' weights, and their spectra in the FDW
``(out*k) x (in*k)`` layout (spectral centroid: energy-weighted mean radial frequency). With many
kernels (the detection configs use 64) ``--max-kernels`` evenly spaced groups are analysed.
Writes ``<label>_fdw_similarity_summary.png`` and ``<label>_fdw_<layer>.png`` and prints the
numbers. No image is needed.
"""
import argparse

import numpy as np
import torch
import torch.nn.functional as F

from mmfreq.analysis.modulation import (fdw_kernel_weights, kernel_groups_to_show,
                                        pairwise_cosine_similarity, spectral_centroid,
                                        weight_matrix_spectra)
from mmfreq.analysis.runner import (add_common_args, backbone_of, format_table,
                                    models_from_args, pyplot, save_figure, select_names, slug)
from mmfreq.analysis.spectral import radial_profile

MAX_DISPLAY = 96  # spectra are average-pooled to at most this many pixels per side for display


def layer_diversity(module, max_kernels: int, detail: bool) -> dict:
    """Cosine similarities and per-kernel spectral summaries of one FDW layer."""
    total = module.kernel_num * module.param_ratio
    groups = kernel_groups_to_show(total, max_kernels)
    weights = fdw_kernel_weights(module, groups).cpu()
    cos = pairwise_cosine_similarity(weights)
    off = cos[~torch.eye(len(groups), dtype=torch.bool)].abs()
    centroids, profiles, images = [], [], []
    for i in range(len(groups)):  # one spectrum at a time: large layers have big matrices
        spectrum = weight_matrix_spectra(weights[i:i + 1])[0]
        centroids.append(float(spectral_centroid(spectrum)))
        if detail:
            centers, profile = radial_profile(spectrum, num_bins=24)
            profiles.append((centers.numpy(), profile.numpy()))
            factor = max(1, int(np.ceil(max(spectrum.shape) / MAX_DISPLAY)))
            small = F.avg_pool2d(spectrum[None, None].float(), factor, ceil_mode=True)[0, 0]
            images.append(torch.log(small + 1e-12).numpy())
    return dict(groups=groups, total=total, cos=cos,
                mean_abs_cos=float(off.mean()) if off.numel() else 0.0,
                max_abs_cos=float(off.max()) if off.numel() else 0.0,
                centroids=centroids, profiles=profiles, images=images,
                shape=tuple(weights.shape[1:]))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_common_args(parser, images=False, baseline=False)
    parser.add_argument('--layers', nargs='+', default=['0', '-1'],
                        help='FDW layers for the detailed plots: names or positions')
    parser.add_argument('--max-kernels', type=int, default=16,
                        help='analyse at most this many kernels per layer (default: 16)')
    args = parser.parse_args(argv)
    (am,) = models_from_args(args)
    backbone = backbone_of(am.model)
    layers = {n: m for n, m in backbone.named_modules()
              if getattr(m, 'is_fdconv', False) and getattr(m, 'is_fdw', False)}
    if not layers:
        print(f'{am.label}: no FDConv / FDLinear layer with a Fourier Disjoint Weight')
        return {}
    detailed = set(select_names(list(layers), args.layers))
    results, rows = {}, []
    with torch.no_grad():
        for name, module in layers.items():
            r = layer_diversity(module, args.max_kernels, name in detailed)
            results[name] = r
            rows.append([name, 'x'.join(map(str, r['shape'])), r['total'], len(r['groups']),
                         r['mean_abs_cos'], r['max_abs_cos'], min(r['centroids']),
                         max(r['centroids'])])
    print(f'\n## {am.label}: Fourier Disjoint Weight diversity (|cos| between different kernels; '
          'spectral centroid in cycles/sample)')
    print(format_table(['layer', 'weight', 'kernels', 'analysed', 'mean |cos|', 'max |cos|',
                        'centroid min', 'centroid max'], rows, digits=5))

    plt = pyplot()
    names = list(results)
    fig, ax = plt.subplots(figsize=(max(6, 0.25 * len(names)), 3.4))
    ax.bar(range(len(names)), [results[n]['mean_abs_cos'] for n in names])
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=5)
    ax.set_ylabel('mean |cos| between kernels')
    ax.set_ylim(0, 1)
    ax.set_title(f'{am.label}: FDW kernel similarity per layer', fontsize=9)
    save_figure(fig, args.out_dir, f'{slug(am.label)}_fdw_similarity_summary')

    for name in names:
        r = results[name]
        if not r['images']:
            continue
        shown = r['images'][:8]
        fig, axes = plt.subplots(1, 2 + len(shown), figsize=(3.6 * 2 + 1.9 * len(shown), 3.2),
                                 constrained_layout=True)
        image = axes[0].imshow(r['cos'].numpy(), cmap='viridis', vmin=-1, vmax=1)
        axes[0].set_title('(a) cosine similarity', fontsize=8)
        fig.colorbar(image, ax=axes[0], shrink=0.8)
        cmap = plt.get_cmap('plasma')
        for i, (centers, profile) in enumerate(r['profiles']):
            axes[1].semilogy(centers, profile, color=cmap(i / max(len(r['profiles']) - 1, 1)),
                             label=f'k{r["groups"][i]}')
        axes[1].set_title('(b) radial |F| per kernel', fontsize=8)
        axes[1].set_xlabel('radial frequency', fontsize=7)
        axes[1].legend(fontsize=5, ncol=2)
        for ax, spectrum, group in zip(axes[2:], shown, r['groups']):
            ax.imshow(spectrum, cmap='jet')
            ax.set_title(f'log|F| kernel {group}', fontsize=7)
            ax.axis('off')
        fig.suptitle(f'{am.label}: {name}', fontsize=9)
        save_figure(fig, args.out_dir, f'{slug(am.label)}_fdw_{slug(name)}')
    return results


if __name__ == '__main__':
    main()
