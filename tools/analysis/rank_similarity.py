"""Effective rank and token similarity per layer (FDAM supplementary F-G, Fig. 4) and the
cross-layer similarity matrix (Fig. 5), baseline vs FDAM.

    python tools/analysis/rank_similarity.py CONFIG CHECKPOINT IMAGE [IMAGE ...] \
        [--baseline-config CFG --baseline-checkpoint CKPT] [--size 512 512] [--out-dir DIR]

Per block output (spatial tokens; averaged over the images): effective rank (eq. 35) and mean
pairwise token cosine similarity (eq. 36). Writes ``rank_similarity.png`` (both curves, every
model on the same axes) and ``<label>_cross_layer_similarity.png`` (one matrix per group of
same-shaped blocks), and prints the numbers.
"""
import argparse

from mmfreq.analysis.layerwise import cross_layer_matrices, representation_stats
from mmfreq.analysis.runner import (add_common_args, format_table, load_images,
                                    models_from_args, pyplot, record_blocks, save_figure, slug)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    args = add_common_args(parser).parse_args(argv)
    plt = pyplot()
    curves, results = plt.subplots(1, 2, figsize=(10, 3.6)), {}
    fig, axes = curves
    for am in models_from_args(args):
        batch, _ = load_images(args.images, tuple(args.size), am.model)
        records = record_blocks(am.model, batch)
        stats = representation_stats(records)
        matrices = cross_layer_matrices(records)
        results[am.label] = dict(stats=stats, cross_layer=matrices)
        print(f'\n## {am.label}: effective rank and mean token cosine similarity per block')
        print(format_table(['block', 'effective rank', 'cosine similarity'],
                           [[s['name'], s['effective_rank'], s['cosine_similarity']]
                            for s in stats]))
        layers = list(range(len(stats)))
        axes[0].plot(layers, [s['effective_rank'] for s in stats], 'o-', label=am.label)
        axes[1].plot(layers, [s['cosine_similarity'] for s in stats], 'o-', label=am.label)

        mfig, maxes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices), 3.8),
                                   squeeze=False)
        for ax, group in zip(maxes[0], matrices):
            matrix = group['matrix'].numpy()
            image = ax.imshow(matrix, cmap='viridis', vmin=min(0.0, matrix.min()), vmax=1.0)
            ticks = range(len(group['names']))
            ax.set_xticks(ticks, [str(i) for i in ticks], fontsize=6)
            ax.set_yticks(ticks, [str(i) for i in ticks], fontsize=6)
            if len(group['names']) <= 16:
                for i in ticks:
                    for j in ticks:
                        ax.text(j, i, f'{matrix[i, j]:.2f}', ha='center', va='center',
                                fontsize=5, color='w')
            ax.set_title(f'{group["names"][0]} .. {group["names"][-1]}', fontsize=8)
            mfig.colorbar(image, ax=ax, shrink=0.8)
            print(f'\n{am.label}: cross-layer similarity {group["names"][0]} .. '
                  f'{group["names"][-1]}')
            print(format_table(['block'] + [str(i) for i in ticks],
                               [[name] + [float(v) for v in matrix[i]]
                                for i, name in enumerate(group['names'])], digits=3))
        mfig.suptitle(f'{am.label}: cross-layer cosine similarity', fontsize=9)
        save_figure(mfig, args.out_dir, f'{slug(am.label)}_cross_layer_similarity')
    axes[0].set_title('(a) effective rank of block outputs', fontsize=9)
    axes[1].set_title('(b) mean pairwise token cosine similarity', fontsize=9)
    from matplotlib.ticker import MaxNLocator
    for ax in axes:
        ax.set_xlabel('block')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    save_figure(fig, args.out_dir, 'rank_similarity')
    return results


if __name__ == '__main__':
    main()
