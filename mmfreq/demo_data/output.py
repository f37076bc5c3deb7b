"""What every demo dataset writer shares on the output side: the dataset names, the marker file
that makes a folder safe to overwrite, the per-split random stream and the image files."""
import os
import os.path as osp
import shutil

import cv2
import numpy as np

DATASETS = ('ade20k', 'coco', 'dota', 'cityscapes')
MARKER = '.mmfreq_demo_data'


def prepare_root(root):
    """Make ``root`` empty (removing only output of mmfreq.demo_data) and mark it as ours."""
    if osp.lexists(root):
        if not osp.isfile(osp.join(root, MARKER)):
            raise FileExistsError(
                f'{root} exists and was not written by mmfreq.demo_data; refusing to overwrite it')
        shutil.rmtree(root)
    os.makedirs(root)
    with open(osp.join(root, MARKER), 'w') as f:
        f.write('written by mmfreq.demo_data; safe to delete\n')


def split_rng(seed, dataset, split):
    """The random stream of one split (index ``split``) of one dataset: independent of the other
    datasets and splits, so each is the same whichever others are written."""
    return np.random.default_rng([seed, DATASETS.index(dataset), split])


def as_size(size):
    """(h, w) from a side length or an (h, w) pair."""
    return (size, size) if np.isscalar(size) else tuple(size)


def write_rgb(path, img_rgb, jpeg_quality=95):
    """Write a uint8 RGB image as JPEG or PNG, by the path's extension (``.jpg``, ``.JPEG``)."""
    bgr = cv2.cvtColor(img_rgb, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] \
        if path.lower().endswith(('.jpg', '.jpeg')) else [cv2.IMWRITE_PNG_COMPRESSION, 6]
    if not cv2.imwrite(path, bgr, params):
        raise OSError(f'could not write {path}')
