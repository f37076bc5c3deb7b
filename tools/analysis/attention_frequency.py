"""Frequency response of attention and of whole layers, layer by layer (FDAM supp. A, Fig. 6).

    python tools/analysis/attention_frequency.py CONFIG CHECKPOINT IMAGE [IMAGE ...] \
        [--baseline-config CFG --baseline-checkpoint CKPT] [--size 512 512] [--out-dir DIR]

Per block of the backbone: the local response of its attention (mean |F(W_pq)| over positions,
heads and images, eq. 10), the global response |F(Y)|/|F(V)| of its attention (eq. 2), and the
response |F(out)|/|F(in)| of the whole block. Writes, under --out-dir (work_dirs/analysis):
``<label>_attention_local_response.png``, ``<label>_attention_global_response.png``,
``layer_response.png`` (all models, one row each) and ``response_profiles.png`` (radial
profiles), and prints DC / low-band / high-band means per block.
"""
import argparse

from mmfreq.analysis.layerwise import frequency_responses, summarize_response
from mmfreq.analysis.runner import (add_common_args, format_table, load_images,
                                    map_grid, models_from_args, pyplot, record_blocks,
                                    save_figure, slug)
from mmfreq.analysis.spectral import radial_profile


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    args = add_common_args(parser).parse_args(argv)
    results = {}
    for am in models_from_args(args):
        batch, _ = load_images(args.images, tuple(args.size), am.model)
        responses = frequency_responses(record_blocks(am.model, batch))
        results[am.label] = responses
        rows = []
        for r in responses:
            row = [r['name']]
            for key in ('local', 'global_', 'layer'):
                s = summarize_response(r[key]) if r[key] is not None else None
                row += ['—'] * 3 if s is None else [s['dc'], s['low'], s['high']]
            rows.append(row)
        print(f'\n## {am.label}: frequency responses (DC / low band 0<r<0.25 / high band r>=0.25)')
        print(format_table(['block', 'attn local DC', 'attn local low', 'attn local high',
                            'attn global DC', 'attn global low', 'attn global high', 'layer DC',
                            'layer low', 'layer high'], rows))
        for key, title in (('local', 'local response |F(W_pq)| of attention'),
                           ('global_', 'global response |F(Y)|/|F(V)| of attention')):
            maps = [(r['name'], r[key].numpy()) for r in responses if r[key] is not None]
            if maps:
                vmax = 1.0 if key == 'local' else None
                fig = map_grid(maps, f'{am.label}: {title}', vmin=0.0, vmax=vmax)
                save_figure(fig, args.out_dir,
                            f'{slug(am.label)}_attention_{key.strip("_")}_response')

    # layer responses of all models on one shared scale (Fig. 6)
    maps = [(f'{label}\n{r["name"]}', r['layer'].numpy()) for label, rs in results.items()
            for r in rs]
    ncols = max(len(rs) for rs in results.values())
    fig = map_grid(maps, 'layer response |F(out)|/|F(in)| (centre: low frequencies)',
                   ncols=ncols, vmin=min(float(m.min()) for _, m in maps),
                   vmax=max(float(m.max()) for _, m in maps))
    save_figure(fig, args.out_dir, 'layer_response')

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    styles = ['-', '--', ':', '-.']
    for (label, responses), style in zip(results.items(), styles):
        cmap = plt.get_cmap('viridis')
        for i, r in enumerate(responses):
            color = cmap(i / max(len(responses) - 1, 1))
            for ax, key in zip(axes, ('local', 'global_', 'layer')):
                if r[key] is not None:
                    centers, profile = radial_profile(r[key], num_bins=12)
                    ax.plot(centers.numpy(), profile.numpy(), style, color=color,
                            label=f'{label} {r["name"]}' if ax is axes[2] else None)
    for ax, title in zip(axes, ('attention local', 'attention global', 'whole layer')):
        ax.set_title(f'{title} response (radial mean)', fontsize=9)
        ax.set_xlabel('radial frequency (cycles/sample)')
    axes[2].legend(fontsize=5, ncol=2)
    save_figure(fig, args.out_dir, 'response_profiles')
    return results


if __name__ == '__main__':
    main()
