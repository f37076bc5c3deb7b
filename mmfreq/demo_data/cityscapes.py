"""Demo data in the Cityscapes format, read by mmseg's ``CityscapesDataset``.

Layout written under ``out_dir``::

    cityscapes/leftImg8bit/{train,val}/<city>/<city>_%06d_%06d_leftImg8bit.png
    cityscapes/gtFine/{train,val}/<city>/<city>_%06d_%06d_gtFine_labelTrainIds.png

Images are ``size/2 x size`` (the 1:2 aspect of the real 1024x2048 frames); their labels are train
ids (0-18, 255 ignored), i.e. what mmseg's ``tools/dataset_converters/cityscapes.py`` writes from
the real ``*_gtFine_polygons.json``. The cities are those of the real train and val splits.
"""
import os
import os.path as osp

import cv2
import numpy as np

from .drawing import finish_image, paint, regular_polygon, rotated_rect, texture
from .output import prepare_root, split_rng, write_rgb

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


def _city_paint(img, label, poly, cls, size, rng):
    _, colour, tex = CITYSCAPES_CLASSES[cls]
    label[paint(img, poly, texture(tex, colour, size, rng))] = cls


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
        tree = regular_polygon(cx, horizon - r, r * 1.3, r, 16)
        _city_paint(img, label, tree, 8, size, rng)
    for _ in range(rng.integers(1, 4)):  # cars on the road, bigger when nearer
        y = rng.uniform(horizon + 0.1 * h, 0.85 * h)
        near = (y - horizon) / (h - horizon)
        bw, bh = (0.15 + 0.25 * near) * w, (0.08 + 0.15 * near) * h
        cx = vanish + rng.uniform(-0.6, 0.6) * near * w
        _city_paint(img, label, rotated_rect(cx, y - bh / 2, bw, bh, 0.0), 13, size, rng)
    for _ in range(rng.integers(0, 3)):  # people on the sidewalks
        y = rng.uniform(horizon + 0.05 * h, 0.8 * h)
        near = (y - horizon) / (h - horizon)
        ry = (0.06 + 0.12 * near) * h
        cx = rng.choice([rng.uniform(0.02, 0.15), rng.uniform(0.85, 0.98)]) * w
        _city_paint(img, label, regular_polygon(cx, y - ry, 0.35 * ry, ry, 24), 11, size, rng)
    if rng.random() < 0.5:  # the ego vehicle: unlabelled in Cityscapes (ignored)
        top = rng.uniform(0.88, 0.95) * h
        bonnet = np.empty((h, w, 3), np.float32)
        bonnet[:] = rng.uniform(20, 60, 3)
        label[paint(img, np.array([[0, h], [0.1 * w, top], [0.9 * w, top], [w, h]]),
                    bonnet)] = CITYSCAPES_IGNORE
    return finish_image(img + rng.normal(0, 4, img.shape).astype(np.float32), rng), label


def make_cityscapes(out_dir, num_train=32, num_val=8, size=128, seed=0):
    """Write ``<out_dir>/cityscapes`` (``leftImg8bit/`` and ``gtFine/``, ``{train,val}/<city>/``)
    and return its path. Images are ``size/2 x size`` (``size``: their width; an (h, w) pair is
    taken as is)."""
    size = (size // 2, size) if np.isscalar(size) else tuple(size)
    root = osp.join(out_dir, 'cityscapes')
    prepare_root(root)
    for split_idx, (split, n) in enumerate((('train', num_train), ('val', num_val))):
        rng = split_rng(seed, 'cityscapes', split_idx)
        cities = CITYSCAPES_CITIES[split]
        for city in cities:
            os.makedirs(osp.join(root, 'leftImg8bit', split, city))
            os.makedirs(osp.join(root, 'gtFine', split, city))
        for i in range(n):
            city = cities[i % len(cities)]
            stem = f'{city}_{i // len(cities):06d}_{19 + 10 * i:06d}'
            img, label = _cityscapes_sample(rng, size)
            write_rgb(osp.join(root, 'leftImg8bit', split, city, stem + '_leftImg8bit.png'), img)
            cv2.imwrite(osp.join(root, 'gtFine', split, city, stem + '_gtFine_labelTrainIds.png'),
                        label)
    return root
