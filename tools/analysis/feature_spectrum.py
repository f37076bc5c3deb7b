"""Feature maps and their spectra (FDAM supplementary Fig. 9), baseline vs FDAM.

    python tools/analysis/feature_spectrum.py CONFIG CHECKPOINT IMAGE [IMAGE ...] \
        [--baseline-config CFG --baseline-checkpoint CKPT] [--blocks -1 5] [--size 512 512]

For the selected blocks (names or positions, default the last), per model: the feature map (L2
norm over channels of the block output, first image) and its spectrum (log of the channel-mean
amplitude, centred). Writes ``feature_spectrum.png`` and prints the share of spectral energy at
radial frequencies >= 0.25 and the spectral centroid (means over channels and images).
"""
import argparse

import torch

from mmfreq.analysis.hooks import find_blocks
from mmfreq.analysis.modulation import spectral_centroid
from mmfreq.analysis.runner import (add_common_args, backbone_of, format_table,
                                    load_images, models_from_args, pyplot, record_blocks,
                                    save_figure, select_names)
from mmfreq.analysis.spectral import (amplitude_spectrum, high_frequency_energy_ratio,
                                      log_amplitude_spectrum)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_common_args(parser)
    parser.add_argument('--blocks', nargs='+', default=['-1'],
                        help='block names or positions (default: -1, the last block)')
    args = parser.parse_args(argv)
    models = models_from_args(args)
    columns, rows, results, shown = [], [], {}, None
    for am in models:
        names = select_names([n for n, _ in find_blocks(backbone_of(am.model))], args.blocks)
        batch, shown = load_images(args.images, tuple(args.size), am.model)
        for record in record_blocks(am.model, batch, names):
            feature = record.output_map()
            centered = feature - feature.mean(dim=(-2, -1), keepdim=True)
            hf = float(high_frequency_energy_ratio(centered).mean())
            centroid = float(spectral_centroid(amplitude_spectrum(centered)).mean())
            results[(am.label, record.name)] = dict(high_frequency_energy=hf, centroid=centroid)
            rows.append([am.label, record.name, hf, centroid])
            columns.append((am.label, record.name,
                            torch.linalg.vector_norm(feature[0], dim=0).numpy(),
                            log_amplitude_spectrum(feature[0], reduce_dims=(0,)).numpy()))
    print('\n## feature spectra (energy share at r >= 0.25 and centroid of the mean-free maps)')
    print(format_table(['model', 'block', 'high-frequency energy', 'spectral centroid'], rows))

    plt = pyplot()
    ncols = 1 + 2 * len(columns)
    fig, axes = plt.subplots(1, ncols, figsize=(2.6 * ncols, 2.9))
    axes[0].imshow(shown[0])
    axes[0].set_title('(a) input', fontsize=8)
    for i, (label, name, feature, spectrum) in enumerate(columns):
        axes[1 + i].imshow(feature, cmap='jet')
        axes[1 + i].set_title(f'feature\n{label[:28]}\n{name}', fontsize=7)
        axes[1 + len(columns) + i].imshow(spectrum, cmap='jet')
        axes[1 + len(columns) + i].set_title(f'spectrum\n{label[:28]}\n{name}', fontsize=7)
    for ax in axes:
        ax.axis('off')
    save_figure(fig, args.out_dir, 'feature_spectrum')
    return results


if __name__ == '__main__':
    main()
