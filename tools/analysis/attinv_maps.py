"""AttInv modulation maps (FDAM supplementary Fig. 7): where AttInv weights its high-pass and
low-pass parts, per layer.

    python tools/analysis/attinv_maps.py CONFIG CHECKPOINT IMAGE [IMAGE ...] [--size 512 512]

For every block with AttInv: the high-frequency gate ``s_hf = 2 s^2 / (s^2 + 0.3678)`` (weight of
``V - A V``) and the low-frequency gate ``s_lf = tanh(.)`` per token, averaged over heads, for the
first image. Writes ``<label>_attinv_hf_maps.png`` (overlaid on the image),
``<label>_attinv_lf_maps.png`` and prints per block the gates' mean / std / min / max and the
mean |gamma| they are multiplied with.
"""
import argparse

from mmfreq.analysis.layerwise import attinv_gate_maps
from mmfreq.analysis.runner import (add_common_args, format_table, load_images,
                                    map_grid, models_from_args, overlay, pyplot, record_blocks,
                                    save_figure, slug)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    args = add_common_args(parser, baseline=False).parse_args(argv)
    (am,) = models_from_args(args)
    batch, shown = load_images(args.images, tuple(args.size), am.model)
    maps = attinv_gate_maps(record_blocks(am.model, batch))
    if not maps:
        print(f'{am.label}: no block with AttInv gates (dy_freq / dy_freq_2)')
        return {}
    rows = []
    for entry in maps:
        for key in ('hf', 'lf'):
            gate = entry[key]
            if gate is not None:
                rows.append([entry['name'], key, float(gate.mean()), float(gate.std()),
                             float(gate.min()), float(gate.max()),
                             entry[f'{key}_gamma'] if entry[f'{key}_gamma'] is not None else '—'])
    print(f'\n## {am.label}: AttInv gates (s_hf weights V - AV, s_lf weights AV)')
    print(format_table(['block', 'gate', 'mean', 'std', 'min', 'max', 'mean |gamma|'], rows))

    plt = pyplot()
    hf = [(e['name'], e['hf'][0].mean(0).numpy()) for e in maps if e['hf'] is not None]
    if hf:
        ncols = min(6, len(hf) + 1)
        nrows = (len(hf) + 1 + ncols - 1) // ncols
        fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.5 * nrows), squeeze=False)
        for ax in axes.flat:
            ax.axis('off')
        axes.flat[0].imshow(shown[0])
        axes.flat[0].set_title('input', fontsize=8)
        for ax, (name, gate) in zip(list(axes.flat)[1:], hf):
            ax.imshow(shown[0])
            ax.imshow(overlay(shown[0], gate), cmap='jet', alpha=0.55)
            ax.set_title(f'{name}\ns_hf {gate.min():.2f}..{gate.max():.2f}', fontsize=7)
        fig.suptitle(f'{am.label}: AttInv high-pass weight (warm = more high-pass)', fontsize=9)
        save_figure(fig, args.out_dir, f'{slug(am.label)}_attinv_hf_maps')
    lf = [(e['name'], e['lf'][0].mean(0).numpy()) for e in maps if e['lf'] is not None]
    if lf:
        fig = map_grid(lf, f'{am.label}: AttInv low-pass gate s_lf')
        save_figure(fig, args.out_dir, f'{slug(am.label)}_attinv_lf_maps')
    return {e['name']: e for e in maps}


if __name__ == '__main__':
    main()
