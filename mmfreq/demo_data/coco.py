"""Demo data in the COCO 2017 instances format, read by mmdet's ``CocoDataset``.

Layout written under ``out_dir``::

    coco/{train2017,val2017}/%012d.jpg
    coco/annotations/instances_{train2017,val2017}.json

The json files list all 80 categories with their real ids; five of them are drawn (person, car,
stop sign, kite, clock), each instance as one polygon ``segmentation`` with its ``bbox`` and
``area``. Instances do not overlap.
"""
import json
import os
import os.path as osp

import numpy as np

from .drawing import (background, finish_image, paint, place, polygon_area, regular_polygon,
                      rotated_rect, texture)
from .output import as_size, prepare_root, split_rng, write_rgb

# The 80 COCO categories: (id, name, supercategory), ids as in instances_*.json (1..90 with
# gaps), in the order of mmdet's CocoDataset.METAINFO['classes'].
COCO_CATEGORIES = (
    (1, 'person', 'person'), (2, 'bicycle', 'vehicle'), (3, 'car', 'vehicle'),
    (4, 'motorcycle', 'vehicle'), (5, 'airplane', 'vehicle'), (6, 'bus', 'vehicle'),
    (7, 'train', 'vehicle'), (8, 'truck', 'vehicle'), (9, 'boat', 'vehicle'),
    (10, 'traffic light', 'outdoor'), (11, 'fire hydrant', 'outdoor'),
    (13, 'stop sign', 'outdoor'), (14, 'parking meter', 'outdoor'), (15, 'bench', 'outdoor'),
    (16, 'bird', 'animal'), (17, 'cat', 'animal'), (18, 'dog', 'animal'),
    (19, 'horse', 'animal'), (20, 'sheep', 'animal'), (21, 'cow', 'animal'),
    (22, 'elephant', 'animal'), (23, 'bear', 'animal'), (24, 'zebra', 'animal'),
    (25, 'giraffe', 'animal'), (27, 'backpack', 'accessory'), (28, 'umbrella', 'accessory'),
    (31, 'handbag', 'accessory'), (32, 'tie', 'accessory'), (33, 'suitcase', 'accessory'),
    (34, 'frisbee', 'sports'), (35, 'skis', 'sports'), (36, 'snowboard', 'sports'),
    (37, 'sports ball', 'sports'), (38, 'kite', 'sports'), (39, 'baseball bat', 'sports'),
    (40, 'baseball glove', 'sports'), (41, 'skateboard', 'sports'),
    (42, 'surfboard', 'sports'), (43, 'tennis racket', 'sports'), (44, 'bottle', 'kitchen'),
    (46, 'wine glass', 'kitchen'), (47, 'cup', 'kitchen'), (48, 'fork', 'kitchen'),
    (49, 'knife', 'kitchen'), (50, 'spoon', 'kitchen'), (51, 'bowl', 'kitchen'),
    (52, 'banana', 'food'), (53, 'apple', 'food'), (54, 'sandwich', 'food'),
    (55, 'orange', 'food'), (56, 'broccoli', 'food'), (57, 'carrot', 'food'),
    (58, 'hot dog', 'food'), (59, 'pizza', 'food'), (60, 'donut', 'food'), (61, 'cake', 'food'),
    (62, 'chair', 'furniture'), (63, 'couch', 'furniture'), (64, 'potted plant', 'furniture'),
    (65, 'bed', 'furniture'), (67, 'dining table', 'furniture'), (70, 'toilet', 'furniture'),
    (72, 'tv', 'electronic'), (73, 'laptop', 'electronic'), (74, 'mouse', 'electronic'),
    (75, 'remote', 'electronic'), (76, 'keyboard', 'electronic'),
    (77, 'cell phone', 'electronic'), (78, 'microwave', 'appliance'),
    (79, 'oven', 'appliance'), (80, 'toaster', 'appliance'), (81, 'sink', 'appliance'),
    (82, 'refrigerator', 'appliance'), (84, 'book', 'indoor'), (85, 'clock', 'indoor'),
    (86, 'vase', 'indoor'), (87, 'scissors', 'indoor'), (88, 'teddy bear', 'indoor'),
    (89, 'hair drier', 'indoor'), (90, 'toothbrush', 'indoor'),
)
# Categories that are drawn: COCO id -> (shape, RGB colour, texture).
COCO_SHAPES = {
    1: ('ellipse', (235, 140, 90), 'vgradient'),    # person: tall ellipse
    3: ('rectangle', (40, 70, 200), 'hstripes'),    # car: wide rectangle
    13: ('octagon', (200, 20, 30), 'flat'),         # stop sign: regular octagon
    38: ('triangle', (240, 200, 30), 'flat'),       # kite: triangle
    85: ('circle', (60, 170, 80), 'speckle'),       # clock: circle
}


def _coco_polygon(rng, shape, s):
    """(polygon centred at 0, bounding radius)."""
    if shape == 'ellipse':
        rx = rng.uniform(0.07, 0.12) * s
        ry = rx * rng.uniform(1.6, 2.0)
        return regular_polygon(0, 0, rx, ry, 32), ry
    if shape == 'rectangle':
        bw, bh = rng.uniform(0.25, 0.38) * s, rng.uniform(0.12, 0.18) * s
        return rotated_rect(0, 0, bw, bh, 0.0), 0.5 * np.hypot(bw, bh)
    if shape == 'octagon':
        r = rng.uniform(0.09, 0.15) * s
        return regular_polygon(0, 0, r, r, 8, np.pi / 8), r
    if shape == 'triangle':
        r = rng.uniform(0.10, 0.16) * s
        return np.array([[0, -1.2 * r], [r, 0.8 * r], [-r, 0.8 * r]]), 1.3 * r
    if shape == 'circle':
        r = rng.uniform(0.08, 0.14) * s
        return regular_polygon(0, 0, r, r, 32), r
    raise ValueError(shape)


def _coco_sample(rng, size):
    h, w = size
    img = background(size, rng, rng.uniform(150, 215, 3))
    objects = []  # (category id, polygon)
    placed = []
    for _ in range(rng.integers(1, 5)):
        cat = int(rng.choice(list(COCO_SHAPES)))
        shape, colour, tex = COCO_SHAPES[cat]
        poly, radius = _coco_polygon(rng, shape, min(h, w))
        c = place(rng, size, radius, placed)
        if c is None:
            continue
        placed.append((c[0], c[1], radius))
        poly = np.round(poly + np.array(c), 2)
        paint(img, poly, texture(tex, colour, size, rng))
        objects.append((cat, poly))
    assert objects, 'the first object always fits'
    return finish_image(img, rng), objects


def coco_info():
    """The ``info`` entry of the written annotation files."""
    return dict(description='mmfreq synthetic demo data in the COCO format', version='1.0',
                year=2017, contributor='mmfreq', url='', date_created='2017/09/01')


def make_coco(out_dir, num_train=32, num_val=8, size=128, seed=0):
    """Write ``<out_dir>/coco`` (train2017/, val2017/, annotations/) and return its path."""
    size = as_size(size)
    root = osp.join(out_dir, 'coco')
    prepare_root(root)
    os.makedirs(osp.join(root, 'annotations'))
    categories = [dict(id=i, name=n, supercategory=s) for i, n, s in COCO_CATEGORIES]
    ann_id = 0
    for split_idx, (split, n, id0) in enumerate((('train2017', num_train, 1),
                                                  ('val2017', num_val, 100001))):
        img_dir = osp.join(root, split)
        os.makedirs(img_dir)
        rng = split_rng(seed, 'coco', split_idx)
        images, annotations = [], []
        for i in range(n):
            img_id = id0 + i
            file_name = f'{img_id:012d}.jpg'
            img, objects = _coco_sample(rng, size)
            write_rgb(osp.join(img_dir, file_name), img)
            images.append(dict(id=img_id, file_name=file_name, width=size[1], height=size[0],
                               license=0, date_captured=''))
            for cat, poly in objects:
                ann_id += 1
                x0, y0 = poly.min(0)
                x1, y1 = poly.max(0)
                annotations.append(dict(
                    id=ann_id, image_id=img_id, category_id=cat,
                    segmentation=[[round(float(v), 2) for v in poly.reshape(-1)]],
                    area=round(polygon_area(poly), 2),
                    bbox=[round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)],
                    iscrowd=0))
        coco = dict(info=coco_info(), licenses=[], images=images, annotations=annotations,
                    categories=categories)
        with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(coco, f)
    return root
