"""Tiny synthetic datasets in the real ADE20K / COCO / DOTA-v1.0 / Cityscapes on-disk formats.

The images contain simple filled shapes, one shape, colour and texture per class, on a mildly
textured background, so that a model can actually learn them in a few dozen iterations. The
files are read by the *stock* dataset classes (mmseg ``ADE20KDataset`` and
``CityscapesDataset``, mmdet ``CocoDataset``, mmrotate ``DOTADataset``) exactly like the real
datasets; :func:`dataset_kwargs` returns the ``data_root`` / ``ann_file`` / ``data_prefix`` to use.

The generation needs only numpy and OpenCV (no torch, no OpenMMLab). Output is deterministic for
a given seed, and regenerating overwrites the previous output (a dataset folder is only ever
removed when it carries the marker file this module writes, so pointing ``out_dir`` at real data
fails instead of deleting it).

Layout written under ``out_dir``::

    ade20k/ADEChallengeData2016/images/{training,validation}/ADE_{train,val}_%08d.jpg
    ade20k/ADEChallengeData2016/annotations/{training,validation}/ADE_{train,val}_%08d.png
    coco/{train2017,val2017}/%012d.jpg
    coco/annotations/instances_{train2017,val2017}.json
    dota/{trainval,val}/images/P%04d.png
    dota/{trainval,val}/annfiles/P%04d.txt
    cityscapes/leftImg8bit/{train,val}/<city>/<city>_%06d_%06d_leftImg8bit.png
    cityscapes/gtFine/{train,val}/<city>/<city>_%06d_%06d_gtFine_labelTrainIds.png

Cityscapes images are ``size/2 x size`` (the 1:2 aspect of the real 1024x2048 frames); their labels
are train ids (0-18, 255 ignored), i.e. what mmseg's ``tools/dataset_converters/cityscapes.py``
writes from the real ``*_gtFine_polygons.json``.
"""
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np

DATASETS = ('ade20k', 'coco', 'dota', 'cityscapes')
MARKER = '.mmfreq_demo_data'

# --------------------------------------------------------------------------------------------
# class definitions
# --------------------------------------------------------------------------------------------

# ADE20K label ids (1-based, 0 = "other"/unlabelled; reduce_zero_label maps id k to class k-1
# and 0 to the ignore index 255). Names as in mmseg's ADE20KDataset.METAINFO['classes'][id - 1].
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

# Cityscapes train ids (mmseg CityscapesDataset.METAINFO['classes'][id]) that are drawn, with their
# palette colour and texture; 255 (ignored) marks the ego vehicle and unlabelled clutter.
CITYSCAPES_IGNORE = 255
CITYSCAPES_CLASSES = {
    # train id: (name, RGB colour, texture)
    0: ('road', (128, 64, 128), 'flat'),
    1: ('sidewalk', (244, 35, 232), 'checker'),
    2: ('building', (70, 70, 70), 'bricks'),
    8: ('vegetation', (107, 142, 35), 'speckle'),
    10: ('sky', (70, 130, 180), 'vgradient'),
    11: ('person', (220, 20, 60), 'vgradient'),
    13: ('car', (0, 0, 142), 'hstripes'),
}
# train and val cities of the real dataset
CITYSCAPES_CITIES = dict(train=('aachen', 'bochum'), val=('frankfurt', 'lindau'))


# --------------------------------------------------------------------------------------------
# drawing helpers
# --------------------------------------------------------------------------------------------

def _coverage(size, polygon, factor=4):
    """Fraction of each pixel covered by a polygon given in continuous pixel coordinates
    (pixel (i, j) covers [j, j+1) x [i, i+1), the COCO/DOTA convention), by supersampling."""
    h, w = size
    hi = np.zeros((h * factor, w * factor), np.uint8)
    pts = np.round((np.asarray(polygon, np.float64) * factor - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(hi, [pts.reshape(-1, 1, 2)], 1, lineType=cv2.LINE_8, shift=4)
    return hi.reshape(h, factor, w, factor).mean((1, 3), dtype=np.float32)


def polygon_mask(size, polygon):
    """Bool mask of the pixels at least half covered by the polygon (the drawn label mask)."""
    return _coverage(size, polygon) >= 0.5


def _texture(kind, colour, size, rng, angle=0.0):
    """An HxWx3 float RGB image of the class's colour with its texture."""
    h, w = size
    base = np.empty((h, w, 3), np.float32)
    base[:] = np.asarray(colour, np.float32) * rng.uniform(0.9, 1.1)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 'bricks':
        mortar = (yy % 8 < 1) | (((xx + 8 * ((yy // 8) % 2)) % 16) < 1)
        base[mortar] *= 0.8
    elif kind == 'checker':
        dark = ((xx // 8) + (yy // 8)) % 2 == 1
        base[dark] *= 0.7
    elif kind == 'speckle':
        dots = rng.random((h, w)) < 0.25
        base[dots] *= 0.55
    elif kind == 'vgradient':
        base *= (0.85 + 0.3 * (yy / max(h - 1, 1)))[..., None]
    elif kind == 'hstripes':
        # stripes along the object's axis
        c, s = np.cos(angle), np.sin(angle)
        v = -xx * s + yy * c
        base[(v % 6) < 2] *= 0.6
    elif kind == 'centerline':
        pass  # drawn by the caller (needs the object's geometry)
    elif kind != 'flat':
        raise ValueError(f'unknown texture {kind}')
    return base


def _background(size, rng, colour, noise=6.0):
    """Smooth, mildly textured background (gradient + low-frequency blobs + noise)."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = rng.uniform(-0.15, 0.15, 2)
    grad = 1.0 + g[0] * (xx / w - 0.5) + g[1] * (yy / h - 0.5)
    low = cv2.resize(rng.normal(0, 1, (4, 4)).astype(np.float32), (w, h),
                     interpolation=cv2.INTER_CUBIC)
    img = np.asarray(colour, np.float32) * (grad + 0.05 * low)[..., None]
    return img + rng.normal(0, noise, (h, w, 3)).astype(np.float32)


def _paint(img, polygon, tex):
    """Blend the texture into ``img`` with the polygon's (anti-aliased) coverage; returns the
    label mask (pixels at least half covered)."""
    alpha = _coverage(img.shape[:2], polygon)
    img += alpha[..., None] * (tex - img)
    return alpha >= 0.5


def _finish(img, rng, noise=3.0):
    img = img + rng.normal(0, noise, img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _write_rgb(path, img_rgb, jpeg_quality=95):
    bgr = cv2.cvtColor(img_rgb, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if path.endswith('.jpg') else \
        [cv2.IMWRITE_PNG_COMPRESSION, 6]
    if not cv2.imwrite(path, bgr, params):
        raise OSError(f'could not write {path}')


def _regular_polygon(cx, cy, rx, ry, n, rot=0.0):
    t = rot + 2 * np.pi * np.arange(n) / n
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def _rotated_rect(cx, cy, w, h, angle):
    """Corners (clockwise in image coordinates, y down) of a w x h rectangle rotated by angle."""
    c, s = np.cos(angle), np.sin(angle)
    local = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    rot = np.array([[c, -s], [s, c]])
    return local @ rot.T + np.array([cx, cy])


def polygon_area(polygon):
    """Shoelace area of an (N, 2) polygon."""
    p = np.asarray(polygon, np.float64)
    x, y = p[:, 0], p[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _place(rng, size, radius, placed, margin=2.0, tries=50):
    """Centre for a shape of bounding radius ``radius`` inside the image, not overlapping the
    already ``placed`` (cx, cy, r) discs. None if there is no room."""
    h, w = size
    lo = radius + 1.0
    if 2 * lo >= min(h, w):
        return None
    for _ in range(tries):
        cx, cy = rng.uniform(lo, w - lo), rng.uniform(lo, h - lo)
        if all(np.hypot(cx - px, cy - py) > radius + pr + margin for px, py, pr in placed):
            return cx, cy
    return None


def _prepare(root):
    """Make ``root`` empty (removing only output of this module) and mark it as ours."""
    if osp.lexists(root):
        if not osp.isfile(osp.join(root, MARKER)):
            raise FileExistsError(
                f'{root} exists and was not written by mmfreq.demo_data; refusing to overwrite it')
        shutil.rmtree(root)
    os.makedirs(root)
    with open(osp.join(root, MARKER), 'w') as f:
        f.write('written by mmfreq.demo_data; safe to delete\n')


def _rng(seed, dataset, split):
    return np.random.default_rng([seed, DATASETS.index(dataset), split])


def _as_size(size):
    return (size, size) if np.isscalar(size) else tuple(size)


# --------------------------------------------------------------------------------------------
# ADE20K
# --------------------------------------------------------------------------------------------

def _ade_sample(rng, size):
    h, w = size
    wall = ADE_CLASSES[ADE_BACKGROUND]
    img = _texture(wall[3], wall[2], size, rng) + rng.normal(0, 4, (h, w, 3)).astype(np.float32)
    label = np.full((h, w), ADE_BACKGROUND, np.uint8)

    if rng.random() < 0.7:  # floor band at the bottom, with a slanted top edge
        y0, y1 = rng.uniform(0.6, 0.85, 2) * h
        poly = np.array([[0, y0], [w, y1], [w, h], [0, h]])
        _, _, colour, tex = ADE_CLASSES[4]
        label[_paint(img, poly, _texture(tex, colour, size, rng))] = 4

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
            poly = _regular_polygon(cx, cy, rx, rx * rng.uniform(1.6, 2.2), 32)
        else:  # rectangle
            bw, bh = rng.uniform(0.18, 0.35) * s, rng.uniform(0.10, 0.18) * s
            poly = _rotated_rect(cx, cy, bw, bh, 0.0)
        label[_paint(img, poly, _texture(tex, colour, size, rng))] = cls

    if rng.random() < 0.3:  # unlabelled clutter (id 0 -> ignored with reduce_zero_label)
        r = rng.uniform(0.04, 0.08) * min(h, w)
        poly = _regular_polygon(rng.uniform(r, w - r), rng.uniform(r, h - r), r, r, 5,
                                rng.uniform(0, np.pi))
        clutter = np.empty((h, w, 3), np.float32)
        clutter[:] = rng.uniform(0, 255, 3)
        label[_paint(img, poly, clutter)] = 0
    return _finish(img, rng), label


def make_ade20k(out_dir, num_train=32, num_val=8, size=128, seed=0):
    """Write ``<out_dir>/ade20k/ADEChallengeData2016`` and return its path."""
    size = _as_size(size)
    top = osp.join(out_dir, 'ade20k')
    _prepare(top)
    root = osp.join(top, 'ADEChallengeData2016')
    for split_idx, (split, tag, n) in enumerate((('training', 'train', num_train),
                                                  ('validation', 'val', num_val))):
        img_dir = osp.join(root, 'images', split)
        ann_dir = osp.join(root, 'annotations', split)
        os.makedirs(img_dir)
        os.makedirs(ann_dir)
        rng = _rng(seed, 'ade20k', split_idx)
        for i in range(n):
            img, label = _ade_sample(rng, size)
            stem = f'ADE_{tag}_{i + 1:08d}'
            _write_rgb(osp.join(img_dir, stem + '.jpg'), img)
            cv2.imwrite(osp.join(ann_dir, stem + '.png'), label)
    return root


# --------------------------------------------------------------------------------------------
# COCO
# --------------------------------------------------------------------------------------------

def _coco_polygon(rng, shape, s):
    """(polygon centred at 0, bounding radius)."""
    if shape == 'ellipse':
        rx = rng.uniform(0.07, 0.12) * s
        ry = rx * rng.uniform(1.6, 2.0)
        return _regular_polygon(0, 0, rx, ry, 32), ry
    if shape == 'rectangle':
        bw, bh = rng.uniform(0.25, 0.38) * s, rng.uniform(0.12, 0.18) * s
        return _rotated_rect(0, 0, bw, bh, 0.0), 0.5 * np.hypot(bw, bh)
    if shape == 'octagon':
        r = rng.uniform(0.09, 0.15) * s
        return _regular_polygon(0, 0, r, r, 8, np.pi / 8), r
    if shape == 'triangle':
        r = rng.uniform(0.10, 0.16) * s
        return np.array([[0, -1.2 * r], [r, 0.8 * r], [-r, 0.8 * r]]), 1.3 * r
    if shape == 'circle':
        r = rng.uniform(0.08, 0.14) * s
        return _regular_polygon(0, 0, r, r, 32), r
    raise ValueError(shape)


def _coco_sample(rng, size):
    h, w = size
    img = _background(size, rng, rng.uniform(150, 215, 3))
    objects = []  # (category id, polygon)
    placed = []
    for k in range(rng.integers(1, 5)):
        cat = int(rng.choice(list(COCO_SHAPES)))
        shape, colour, tex = COCO_SHAPES[cat]
        poly, radius = _coco_polygon(rng, shape, min(h, w))
        c = _place(rng, size, radius, placed)
        if c is None:
            continue
        placed.append((c[0], c[1], radius))
        poly = np.round(poly + np.array(c), 2)
        _paint(img, poly, _texture(tex, colour, size, rng))
        objects.append((cat, poly))
    assert objects, 'the first object always fits'
    return _finish(img, rng), objects


def coco_info():
    return dict(description='mmfreq synthetic demo data in the COCO format', version='1.0',
                year=2017, contributor='mmfreq', url='', date_created='2017/09/01')


def make_coco(out_dir, num_train=32, num_val=8, size=128, seed=0):
    """Write ``<out_dir>/coco`` (train2017/, val2017/, annotations/) and return its path."""
    size = _as_size(size)
    root = osp.join(out_dir, 'coco')
    _prepare(root)
    os.makedirs(osp.join(root, 'annotations'))
    categories = [dict(id=i, name=n, supercategory=s) for i, n, s in COCO_CATEGORIES]
    ann_id = 0
    for split_idx, (split, n, id0) in enumerate((('train2017', num_train, 1),
                                                  ('val2017', num_val, 100001))):
        img_dir = osp.join(root, split)
        os.makedirs(img_dir)
        rng = _rng(seed, 'coco', split_idx)
        images, annotations = [], []
        for i in range(n):
            img_id = id0 + i
            file_name = f'{img_id:012d}.jpg'
            img, objects = _coco_sample(rng, size)
            _write_rgb(osp.join(img_dir, file_name), img)
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


# --------------------------------------------------------------------------------------------
# DOTA-v1.0
# --------------------------------------------------------------------------------------------

def _dota_sample(rng, size):
    h, w = size
    s = min(h, w)
    img = _background(size, rng, (95, 105, 85) * rng.uniform(0.85, 1.15, 3), noise=8.0)
    objects = []  # (class name, (4, 2) corners, difficulty)
    placed = []
    names = list(DOTA_SHAPES)
    for _ in range(rng.integers(2, 6)):
        name = names[rng.integers(len(names))]
        (l0, l1), (s0, s1), colour, tex = DOTA_SHAPES[name]
        bw, bh = rng.uniform(l0, l1) * s, rng.uniform(s0, s1) * s
        angle = rng.uniform(-np.pi / 2, np.pi / 2)
        radius = 0.5 * np.hypot(bw, bh)
        c = _place(rng, size, radius, placed)
        if c is None:
            continue
        placed.append((c[0], c[1], radius))
        corners = np.round(_rotated_rect(c[0], c[1], bw, bh, angle), 1)
        tex_img = _texture(tex, colour, size, rng, angle)
        if tex == 'centerline':  # a white net across the middle of the court
            mid = 0.5 * (corners[[0, 3]] + corners[[1, 2]])  # middles of the long sides
            d = (corners[1] - corners[0]) / max(np.linalg.norm(corners[1] - corners[0]), 1e-6)
            line = np.concatenate([mid + 0.8 * d, mid[::-1] - 0.8 * d])
            _paint(tex_img, line, np.full_like(tex_img, 245))
        _paint(img, corners, tex_img)
        difficulty = int(rng.random() < 0.1)
        objects.append((name, corners, difficulty))
    assert objects, 'the first object always fits'
    return _finish(img, rng), objects


def make_dota(out_dir, num_train=32, num_val=8, size=128, seed=0):
    """Write ``<out_dir>/dota/{trainval,val}/{images,annfiles}`` and return ``<out_dir>/dota``.

    This is the layout of mmrotate's ``tools/data/dota/split`` output (``trainval/`` for
    training; here ``val/`` holds separate images for validation/testing).
    """
    size = _as_size(size)
    root = osp.join(out_dir, 'dota')
    _prepare(root)
    for split_idx, (split, n, id0) in enumerate((('trainval', num_train, 0),
                                                  ('val', num_val, 5000))):
        img_dir = osp.join(root, split, 'images')
        ann_dir = osp.join(root, split, 'annfiles')
        os.makedirs(img_dir)
        os.makedirs(ann_dir)
        rng = _rng(seed, 'dota', split_idx)
        for i in range(n):
            stem = f'P{id0 + i:04d}'
            img, objects = _dota_sample(rng, size)
            _write_rgb(osp.join(img_dir, stem + '.png'), img)
            with open(osp.join(ann_dir, stem + '.txt'), 'w') as f:
                for name, corners, difficulty in objects:
                    coords = ' '.join(f'{v:.1f}' for v in corners.reshape(-1))
                    f.write(f'{coords} {name} {difficulty}\n')
    return root


# --------------------------------------------------------------------------------------------
# Cityscapes
# --------------------------------------------------------------------------------------------

def _city_paint(img, label, poly, cls, size, rng):
    _, colour, tex = CITYSCAPES_CLASSES[cls]
    label[_paint(img, poly, _texture(tex, colour, size, rng))] = cls


def _cityscapes_sample(rng, size):
    """A street scene: sky, a skyline of buildings, trees, a road with sidewalks, cars and
    people; sometimes the ego vehicle's bonnet (ignored) at the bottom."""
    h, w = size
    img = np.zeros((h, w, 3), np.float32)
    label = np.full((h, w), CITYSCAPES_IGNORE, np.uint8)
    horizon = rng.uniform(0.4, 0.55) * h
    _city_paint(img, label, np.array([[0, 0], [w, 0], [w, horizon], [0, horizon]]), 10, size, rng)
    x = 0.0
    while x < w:  # skyline
        bw, top = rng.uniform(0.12, 0.3) * w, rng.uniform(0.05, 0.35) * h
        _city_paint(img, label, np.array([[x, top], [x + bw, top], [x + bw, horizon],
                                          [x, horizon]]), 2, size, rng)
        x += bw
    vanish = rng.uniform(0.35, 0.65) * w
    _city_paint(img, label, np.array([[0, horizon], [w, horizon], [w, h], [0, h]]), 1, size, rng)
    _city_paint(img, label, np.array([[vanish - 0.05 * w, horizon], [vanish + 0.05 * w, horizon],
                                      [w + 0.2 * w, h], [-0.2 * w, h]]), 0, size, rng)
    for _ in range(rng.integers(0, 3)):  # trees in front of the buildings
        cx, r = rng.uniform(0, w), rng.uniform(0.08, 0.15) * h
        tree = _regular_polygon(cx, horizon - r, r * 1.3, r, 16)
        _city_paint(img, label, tree, 8, size, rng)
    for _ in range(rng.integers(1, 4)):  # cars on the road, bigger when nearer
        y = rng.uniform(horizon + 0.1 * h, 0.85 * h)
        near = (y - horizon) / (h - horizon)
        bw, bh = (0.15 + 0.25 * near) * w, (0.08 + 0.15 * near) * h
        cx = vanish + rng.uniform(-0.6, 0.6) * near * w
        _city_paint(img, label, _rotated_rect(cx, y - bh / 2, bw, bh, 0.0), 13, size, rng)
    for _ in range(rng.integers(0, 3)):  # people on the sidewalks
        y = rng.uniform(horizon + 0.05 * h, 0.8 * h)
        near = (y - horizon) / (h - horizon)
        ry = (0.06 + 0.12 * near) * h
        cx = rng.choice([rng.uniform(0.02, 0.15), rng.uniform(0.85, 0.98)]) * w
        _city_paint(img, label, _regular_polygon(cx, y - ry, 0.35 * ry, ry, 24), 11, size, rng)
    if rng.random() < 0.5:  # the ego vehicle: unlabelled in Cityscapes (ignored)
        top = rng.uniform(0.88, 0.95) * h
        bonnet = np.empty((h, w, 3), np.float32)
        bonnet[:] = rng.uniform(20, 60, 3)
        label[_paint(img, np.array([[0, h], [0.1 * w, top], [0.9 * w, top], [w, h]]),
                     bonnet)] = CITYSCAPES_IGNORE
    return _finish(img + rng.normal(0, 4, img.shape).astype(np.float32), rng), label


def make_cityscapes(out_dir, num_train=32, num_val=8, size=128, seed=0):
    """Write ``<out_dir>/cityscapes`` (``leftImg8bit/`` and ``gtFine/``, ``{train,val}/<city>/``)
    and return its path. Images are ``size/2 x size`` (``size``: their width; an (h, w) pair is
    taken as is)."""
    size = (size // 2, size) if np.isscalar(size) else tuple(size)
    root = osp.join(out_dir, 'cityscapes')
    _prepare(root)
    for split_idx, (split, n) in enumerate((('train', num_train), ('val', num_val))):
        rng = _rng(seed, 'cityscapes', split_idx)
        cities = CITYSCAPES_CITIES[split]
        for city in cities:
            os.makedirs(osp.join(root, 'leftImg8bit', split, city))
            os.makedirs(osp.join(root, 'gtFine', split, city))
        for i in range(n):
            city = cities[i % len(cities)]
            stem = f'{city}_{i // len(cities):06d}_{19 + 10 * i:06d}'
            img, label = _cityscapes_sample(rng, size)
            _write_rgb(osp.join(root, 'leftImg8bit', split, city, stem + '_leftImg8bit.png'), img)
            cv2.imwrite(osp.join(root, 'gtFine', split, city, stem + '_gtFine_labelTrainIds.png'),
                        label)
    return root


# --------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------

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
