"""Tiny synthetic datasets in the real ADE20K / COCO / DOTA-v1.0 / Cityscapes on-disk formats.

The images contain simple filled shapes, one shape, colour and texture per class, on a mildly
textured background, so that a model can actually learn them in a few dozen iterations. The
files are read by the *stock* dataset classes (mmseg ``ADE20KDataset`` and
``CityscapesDataset``, mmdet ``CocoDataset``, mmrotate ``DOTADataset``) exactly like the real
datasets; :func:`dataset_kwargs` returns the ``data_root`` / ``ann_file`` / ``data_prefix`` to use.

The generation needs only numpy and OpenCV (no torch, no OpenMMLab). Output is deterministic for
a given seed, and regenerating overwrites the previous output (a dataset folder is only ever
removed when it carries the marker file this package writes, so pointing ``out_dir`` at real data
fails instead of deleting it).

The datasets, each written to its own folder under ``out_dir`` by the module that documents its
format:

- ``ade20k/``: :mod:`mmfreq.demo_data.ade20k` (semantic segmentation, ADEChallengeData2016)
- ``coco/``: :mod:`mmfreq.demo_data.coco` (detection and instance segmentation, COCO 2017)
- ``dota/``: :mod:`mmfreq.demo_data.dota` (oriented detection, DOTA-v1.0 split patches)
- ``cityscapes/``: :mod:`mmfreq.demo_data.cityscapes` (semantic segmentation, train ids)

:mod:`mmfreq.demo_data.drawing` and :mod:`mmfreq.demo_data.output` hold what they share.
"""
import os.path as osp

from .ade20k import ADE_BACKGROUND, ADE_CLASSES, ADE_OBJECT_IDS, make_ade20k
from .cityscapes import CITYSCAPES_CITIES, CITYSCAPES_CLASSES, CITYSCAPES_IGNORE, make_cityscapes
from .coco import COCO_CATEGORIES, COCO_SHAPES, coco_info, make_coco
from .dota import DOTA_CLASSES, DOTA_SHAPES, make_dota
from .drawing import polygon_area, polygon_mask
from .output import DATASETS, MARKER

__all__ = [
    'DATASETS', 'MARKER', 'MAKERS', 'make_demo_data', 'dataset_kwargs',
    'make_ade20k', 'make_coco', 'make_dota', 'make_cityscapes',
    'polygon_mask', 'polygon_area', 'coco_info',
    'ADE_BACKGROUND', 'ADE_CLASSES', 'ADE_OBJECT_IDS',
    'COCO_CATEGORIES', 'COCO_SHAPES',
    'DOTA_CLASSES', 'DOTA_SHAPES',
    'CITYSCAPES_IGNORE', 'CITYSCAPES_CLASSES', 'CITYSCAPES_CITIES',
]

MAKERS = dict(ade20k=make_ade20k, coco=make_coco, dota=make_dota, cityscapes=make_cityscapes)


def dataset_kwargs(name, split, out_dir):
    """The stock dataset's ``data_root`` / ``ann_file`` / ``data_prefix`` for demo data written
    to ``out_dir``; ``split`` is ``'train'`` or ``'val'``."""
    assert split in ('train', 'val'), split
    train = split == 'train'
    if name == 'ade20k':
        sub = 'training' if train else 'validation'
        return dict(type='ADE20KDataset',
                    data_root=osp.join(out_dir, 'ade20k', 'ADEChallengeData2016') + '/',
                    data_prefix=dict(img_path=f'images/{sub}', seg_map_path=f'annotations/{sub}'))
    if name == 'coco':
        sub = 'train2017' if train else 'val2017'
        return dict(type='CocoDataset', data_root=osp.join(out_dir, 'coco') + '/',
                    ann_file=f'annotations/instances_{sub}.json', data_prefix=dict(img=f'{sub}/'))
    if name == 'dota':
        sub = 'trainval' if train else 'val'
        return dict(type='DOTADataset', data_root=osp.join(out_dir, 'dota') + '/',
                    ann_file=f'{sub}/annfiles/', data_prefix=dict(img_path=f'{sub}/images/'))
    if name == 'cityscapes':
        return dict(type='CityscapesDataset', data_root=osp.join(out_dir, 'cityscapes') + '/',
                    data_prefix=dict(img_path=f'leftImg8bit/{split}',
                                     seg_map_path=f'gtFine/{split}'))
    raise KeyError(name)


def make_demo_data(out_dir, datasets=DATASETS, num_train=32, num_val=8, size=128, seed=0,
                   verbose=False):
    """Write the requested demo datasets under ``out_dir``; returns {name: dataset root}."""
    roots = {}
    for name in datasets:
        if name not in MAKERS:
            raise KeyError(f'unknown dataset {name!r}; choose from {DATASETS}')
        roots[name] = MAKERS[name](out_dir, num_train=num_train, num_val=num_val, size=size,
                                   seed=seed)
        if verbose:
            print(f'{name:10s} -> {roots[name]}  ({num_train} train + {num_val} val images)')
    return roots
