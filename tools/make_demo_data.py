#!/usr/bin/env python
"""Write small synthetic ADE20K / COCO / DOTA-v1.0 / Cityscapes datasets in the real formats.

    python tools/make_demo_data.py [--out data/demo] [--datasets ade20k coco dota cityscapes]
                                   [--num-train N] [--num-val N] [--size S] [--seed 0]

Deterministic for a given seed; re-running overwrites the previous demo output. The
generation lives in ``mmfreq/demo_data/`` (numpy + OpenCV only); this script loads that package
directly, so it runs without importing torch or the OpenMMLab stack (``import mmfreq`` would
register the codebases).
"""
import argparse
import importlib.util
import os.path as osp
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _load_demo_data():
    package = osp.join(REPO, 'mmfreq', 'demo_data')
    spec = importlib.util.spec_from_file_location(
        '_mmfreq_demo_data', osp.join(package, '__init__.py'),
        submodule_search_locations=[package])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its relative imports resolve against this name
    spec.loader.exec_module(module)
    return module


demo = _load_demo_data()


def parse_args(argv=None, datasets=('ade20k', 'coco', 'dota', 'cityscapes')):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', default=osp.join(REPO, 'data', 'demo'),
                   help='output folder (default: <repo>/data/demo)')
    p.add_argument('--datasets', nargs='+', default=list(datasets), choices=list(datasets))
    p.add_argument('--num-train', type=int, default=32, help='training images per dataset')
    p.add_argument('--num-val', type=int, default=8, help='validation images per dataset')
    p.add_argument('--size', type=int, default=128,
                   help='image side length in pixels (Cityscapes: width, height = size / 2)')
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv, demo.DATASETS)
    out = osp.abspath(args.out)
    t0 = time.time()
    demo.make_demo_data(out, args.datasets, num_train=args.num_train, num_val=args.num_val,
                        size=args.size, seed=args.seed, verbose=True)
    print(f'wrote {", ".join(args.datasets)} to {out} in {time.time() - t0:.1f} s '
          f'({args.size}x{args.size}, seed {args.seed}); dataset settings:')
    for name in args.datasets:
        for split in ('train', 'val'):
            print(f'  {name:10s} {split:5s} {demo.dataset_kwargs(name, split, out)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
