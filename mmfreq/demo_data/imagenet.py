"""A tiny ImageNet-1k in the layout mmpretrain's stock ``ImageNet`` dataset reads (classification
demo; configs/classification/).

Layout, as ImageNet's, with the annotation files mmpretrain's ``ImageNet(split=...)`` looks for::

    imagenet/
      train/<wnid>/<wnid>_<n>.JPEG      meta/train.txt: "<wnid>/<wnid>_<n>.JPEG <label>"
      val/ILSVRC2012_val_<n>.JPEG       meta/val.txt:   "ILSVRC2012_val_<n>.JPEG <label>"

Four of the 1000 classes (their WordNet ids and ImageNet labels), one shape, colour and texture
each on a textured background, so that a few iterations learn them. Deterministic for a seed.
"""
import os
import os.path as osp

import numpy as np

from .drawing import finish_image, paint, regular_polygon, texture
from .output import as_size, prepare_root, write_rgb

# label: (WordNet id, shape sides, RGB colour, texture)
IMAGENET_CLASSES = {
    0: ('n01440764', 3, (200, 60, 50), 'speckle'),     # tench
    1: ('n01443537', 4, (50, 80, 210), 'hstripes'),    # goldfish
    207: ('n02099601', 6, (40, 150, 50), 'checker'),   # golden retriever
    948: ('n07742313', 40, (215, 190, 60), 'vgradient'),  # Granny Smith
}


def _image(rng, label, size):
    h, w = size
    img = texture('bricks', (150, 150, 150), size, rng)
    _, sides, colour, tex = IMAGENET_CLASSES[label]
    radius = rng.uniform(0.25, 0.4) * min(h, w)
    cx, cy = rng.uniform(0.35, 0.65, 2) * (w, h)
    paint(img, regular_polygon(cx, cy, radius, radius, sides, rng.uniform(0, np.pi)),
          texture(tex, colour, size, rng))
    return finish_image(img, rng)


def make_imagenet(out_dir, num_train=8, num_val=4, size=64, seed=0):
    """Write ``out_dir/imagenet`` with ``num_train`` training images per class and ``num_val``
    validation images in all; returns that folder."""
    root = osp.join(out_dir, 'imagenet')
    prepare_root(root)
    size = as_size(size)
    os.makedirs(osp.join(root, 'meta'))
    labels = sorted(IMAGENET_CLASSES)
    rng = np.random.default_rng([seed, 1000, 0])
    lines = []
    for label in labels:
        wnid = IMAGENET_CLASSES[label][0]
        os.makedirs(osp.join(root, 'train', wnid))
        for n in range(num_train):
            name = f'{wnid}/{wnid}_{n}.JPEG'
            write_rgb(osp.join(root, 'train', name), _image(rng, label, size))
            lines.append(f'{name} {label}')
    with open(osp.join(root, 'meta', 'train.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    rng = np.random.default_rng([seed, 1000, 1])
    os.makedirs(osp.join(root, 'val'))
    lines = []
    for n in range(num_val):
        label = labels[n % len(labels)]
        name = f'ILSVRC2012_val_{n + 1:08d}.JPEG'
        write_rgb(osp.join(root, 'val', name), _image(rng, label, size))
        lines.append(f'{name} {label}')
    with open(osp.join(root, 'meta', 'val.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return root
