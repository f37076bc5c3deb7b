"""Demo data in the ADE20K (ADEChallengeData2016) format, read by mmseg's ``ADE20KDataset``.

Layout written under ``out_dir``::

    ade20k/ADEChallengeData2016/images/{training,validation}/ADE_{train,val}_%08d.jpg
    ade20k/ADEChallengeData2016/annotations/{training,validation}/ADE_{train,val}_%08d.png

Labels are ADE20K label ids (1-based, 0 = "other"/unlabelled; ``reduce_zero_label`` maps id k to
class k-1 and 0 to the ignore index 255): a textured wall fills the image, a floor band often runs
along the bottom, trees, people and cars stand in front, and now and then unlabelled clutter.
"""
import os
import os.path as osp

import cv2
import numpy as np

from .drawing import finish_image, paint, regular_polygon, rotated_rect, texture
from .output import as_size, prepare_root, split_rng, write_rgb

# Names as in mmseg's ADE20KDataset.METAINFO['classes'][id - 1].
ADE_BACKGROUND = 1  # wall
ADE_CLASSES = {
    # id: (name, shape, RGB colour, texture)
    1: ('wall', 'background', (196, 186, 166), 'bricks'),
    4: ('floor', 'band', (150, 100, 60), 'checker'),
    5: ('tree', 'triangle', (40, 150, 50), 'speckle'),
    13: ('person', 'ellipse', (215, 60, 70), 'vgradient'),
    21: ('car', 'rectangle', (50, 80, 210), 'hstripes'),
}
ADE_OBJECT_IDS = (5, 13, 21)


def _ade_sample(rng, size):
    h, w = size
    wall = ADE_CLASSES[ADE_BACKGROUND]
    img = texture(wall[3], wall[2], size, rng) + rng.normal(0, 4, (h, w, 3)).astype(np.float32)
    label = np.full((h, w), ADE_BACKGROUND, np.uint8)

    if rng.random() < 0.7:  # floor band at the bottom, with a slanted top edge
        y0, y1 = rng.uniform(0.6, 0.85, 2) * h
        poly = np.array([[0, y0], [w, y1], [w, h], [0, h]])
        _, _, colour, tex = ADE_CLASSES[4]
        label[paint(img, poly, texture(tex, colour, size, rng))] = 4

    for _ in range(rng.integers(1, 5)):
        cls = int(rng.choice(ADE_OBJECT_IDS))
        _, shape, colour, tex = ADE_CLASSES[cls]
        s = min(h, w)
        cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
        if shape == 'triangle':
            r = rng.uniform(0.10, 0.22) * s
            poly = np.array([[cx, cy - 1.3 * r], [cx + r, cy + r], [cx - r, cy + r]])
        elif shape == 'ellipse':
            rx = rng.uniform(0.06, 0.12) * s
            poly = regular_polygon(cx, cy, rx, rx * rng.uniform(1.6, 2.2), 32)
        else:  # rectangle
            bw, bh = rng.uniform(0.18, 0.35) * s, rng.uniform(0.10, 0.18) * s
            poly = rotated_rect(cx, cy, bw, bh, 0.0)
        label[paint(img, poly, texture(tex, colour, size, rng))] = cls

    if rng.random() < 0.3:  # unlabelled clutter (id 0 -> ignored with reduce_zero_label)
        r = rng.uniform(0.04, 0.08) * min(h, w)
        poly = regular_polygon(rng.uniform(r, w - r), rng.uniform(r, h - r), r, r, 5,
                               rng.uniform(0, np.pi))
        clutter = np.empty((h, w, 3), np.float32)
        clutter[:] = rng.uniform(0, 255, 3)
        label[paint(img, poly, clutter)] = 0
    return finish_image(img, rng), label


def make_ade20k(out_dir, num_train=32, num_val=8, size=128, seed=0):
    """Write ``<out_dir>/ade20k/ADEChallengeData2016`` and return its path."""
    size = as_size(size)
    top = osp.join(out_dir, 'ade20k')
    prepare_root(top)
    root = osp.join(top, 'ADEChallengeData2016')
    for split_idx, (split, tag, n) in enumerate((('training', 'train', num_train),
                                                  ('validation', 'val', num_val))):
        img_dir = osp.join(root, 'images', split)
        ann_dir = osp.join(root, 'annotations', split)
        os.makedirs(img_dir)
        os.makedirs(ann_dir)
        rng = split_rng(seed, 'ade20k', split_idx)
        for i in range(n):
            img, label = _ade_sample(rng, size)
            stem = f'ADE_{tag}_{i + 1:08d}'
            write_rgb(osp.join(img_dir, stem + '.jpg'), img)
            cv2.imwrite(osp.join(ann_dir, stem + '.png'), label)
    return root
