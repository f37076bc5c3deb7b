"""Demo data in the DOTA-v1.0 format, read by mmrotate's ``DOTADataset``.

Layout written under ``out_dir``::

    dota/{trainval,val}/images/P%04d.png
    dota/{trainval,val}/annfiles/P%04d.txt

This is the layout of mmrotate's ``tools/data/dota/split`` output (``trainval/`` for training;
here ``val/`` holds separate images for validation/testing). Each annfile line is an object's four
corners ``x1 y1 ... x4 y4`` (clockwise, one decimal), its class name and its difficulty (0 or 1).
Objects are filled rotated rectangles that do not overlap.
"""
import os
import os.path as osp

import numpy as np

from .drawing import background, finish_image, paint, place, rotated_rect, texture
from .output import as_size, prepare_root, split_rng, write_rgb

# DOTA-v1.0 classes (mmrotate DOTADataset.METAINFO['classes']).
DOTA_CLASSES = ('plane', 'baseball-diamond', 'bridge', 'ground-track-field', 'small-vehicle',
                'large-vehicle', 'ship', 'tennis-court', 'basketball-court', 'storage-tank',
                'soccer-ball-field', 'roundabout', 'harbor', 'swimming-pool', 'helicopter')
# Classes that are drawn: name -> (long side, short side) as fractions of the image size,
# RGB colour, texture. All are filled rotated rectangles.
DOTA_SHAPES = {
    'small-vehicle': ((0.11, 0.15), (0.06, 0.08), (235, 235, 235), 'flat'),
    'large-vehicle': ((0.20, 0.26), (0.08, 0.10), (230, 190, 40), 'hstripes'),
    'ship': ((0.24, 0.32), (0.06, 0.08), (200, 50, 50), 'flat'),
    'tennis-court': ((0.22, 0.28), (0.13, 0.17), (40, 140, 200), 'centerline'),
}


def _dota_sample(rng, size):
    h, w = size
    s = min(h, w)
    img = background(size, rng, (95, 105, 85) * rng.uniform(0.85, 1.15, 3), noise=8.0)
    objects = []  # (class name, (4, 2) corners, difficulty)
    placed = []
    names = list(DOTA_SHAPES)
    for _ in range(rng.integers(2, 6)):
        name = names[rng.integers(len(names))]
        (l0, l1), (s0, s1), colour, tex = DOTA_SHAPES[name]
        bw, bh = rng.uniform(l0, l1) * s, rng.uniform(s0, s1) * s
        angle = rng.uniform(-np.pi / 2, np.pi / 2)
        radius = 0.5 * np.hypot(bw, bh)
        c = place(rng, size, radius, placed)
        if c is None:
            continue
        placed.append((c[0], c[1], radius))
        corners = np.round(rotated_rect(c[0], c[1], bw, bh, angle), 1)
        tex_img = texture(tex, colour, size, rng, angle)
        if tex == 'centerline':  # a white net across the middle of the court
            mid = 0.5 * (corners[[0, 3]] + corners[[1, 2]])  # middles of the long sides
            d = (corners[1] - corners[0]) / max(np.linalg.norm(corners[1] - corners[0]), 1e-6)
            line = np.concatenate([mid + 0.8 * d, mid[::-1] - 0.8 * d])
            paint(tex_img, line, np.full_like(tex_img, 245))
        paint(img, corners, tex_img)
        difficulty = int(rng.random() < 0.1)
        objects.append((name, corners, difficulty))
    assert objects, 'the first object always fits'
    return finish_image(img, rng), objects


def make_dota(out_dir, num_train=32, num_val=8, size=128, seed=0):
    """Write ``<out_dir>/dota/{trainval,val}/{images,annfiles}`` (the layout of mmrotate's
    ``tools/data/dota/split`` output) and return ``<out_dir>/dota``."""
    size = as_size(size)
    root = osp.join(out_dir, 'dota')
    prepare_root(root)
    for split_idx, (split, n, id0) in enumerate((('trainval', num_train, 0),
                                                  ('val', num_val, 5000))):
        img_dir = osp.join(root, split, 'images')
        ann_dir = osp.join(root, split, 'annfiles')
        os.makedirs(img_dir)
        os.makedirs(ann_dir)
        rng = split_rng(seed, 'dota', split_idx)
        for i in range(n):
            stem = f'P{id0 + i:04d}'
            img, objects = _dota_sample(rng, size)
            write_rgb(osp.join(img_dir, stem + '.png'), img)
            with open(osp.join(ann_dir, stem + '.txt'), 'w') as f:
                for name, corners, difficulty in objects:
                    coords = ' '.join(f'{v:.1f}' for v in corners.reshape(-1))
                    f.write(f'{coords} {name} {difficulty}\n')
    return root
