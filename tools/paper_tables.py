"""Print the FDConv / FDAM paper tables this project has configs for, paper vs ours, as markdown.

    python tools/paper_tables.py                       # all tables, params and FLOPs
    python tools/paper_tables.py --fast                # params only (seconds per config)
    python tools/paper_tables.py --tables fdam-table1 fdconv-table1 --markdown tables.md

Params and FLOPs are computed from the configs on the spot (FLOPs at the paper's input size; they
take tens of seconds per model on a CPU and are cached in ``--cache``, keyed by the config, the
input size and the source of the mmfreq modules used); metrics come from ``work_dirs/*/``
evaluation logs ("not run" when absent). See ``mmfreq/analysis/paper_tables.py``.
"""
import argparse
import os
import os.path as osp
import sys
import time

from mmfreq.analysis.complexity import model_complexity
from mmfreq.analysis.paper_tables import (PAPER_TABLES, compute_table,
                                          tables_markdown)


def parse_args(argv=None):
    keys = [t.key for t in PAPER_TABLES]
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tables', nargs='+', choices=keys, default=keys,
                        help='tables to print (default: all)')
    parser.add_argument('--fast', action='store_true', help='parameters only, no FLOPs')
    parser.add_argument('--markdown', metavar='FILE', help='also write the markdown to FILE')
    parser.add_argument('--cache', default='work_dirs/analysis/complexity_cache.json',
                        help='FLOPs cache file (default: %(default)s)')
    parser.add_argument('--no-cache', action='store_true', help='do not read or write the cache')
    parser.add_argument('--work-dirs', default='work_dirs',
                        help='where to look for evaluation logs (default: %(default)s)')
    parser.add_argument('--device', default='cpu', help='device to build and trace models on')
    return parser.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    cache = None if args.no_cache else args.cache
    memo = {}

    def complexity(config, hw, params_only):
        key = (config, tuple(hw), params_only)
        if key not in memo:
            start = time.time()
            print(f'[paper_tables] {osp.basename(config)} at {hw[0]}x{hw[1]}'
                  f'{" (params only)" if params_only else ""} ...', file=sys.stderr, flush=True)
            memo[key] = model_complexity(config, hw, params_only=params_only, cache_file=cache,
                                         device=args.device)
            cached = ' (cached FLOPs)' if memo[key].cached else ''
            print(f'[paper_tables]   done in {time.time() - start:.1f}s{cached}', file=sys.stderr,
                  flush=True)
        return memo[key]

    sections = []
    for table in PAPER_TABLES:
        if table.key in args.tables:
            sections.append((table, compute_table(table, complexity, params_only=args.fast,
                                                  work_dirs=args.work_dirs)))
    text = tables_markdown(sections, params_only=args.fast)
    print(text)
    if args.markdown:
        os.makedirs(osp.dirname(osp.abspath(args.markdown)), exist_ok=True)
        with open(args.markdown, 'w') as f:
            f.write(text + '\n')
    return text


if __name__ == '__main__':
    main()
