"""Shapes, textures and anti-aliased painting shared by the demo dataset writers.

Images are HxWx3 float32 RGB while drawn and uint8 once finished; polygons are (N, 2) arrays of
(x, y) in continuous pixel coordinates (pixel (i, j) covers [j, j+1) x [i, i+1), the COCO/DOTA
convention).
"""
import cv2
import numpy as np


def coverage(size, polygon, factor=4):
    """Fraction of each pixel covered by a polygon given in continuous pixel coordinates
    (pixel (i, j) covers [j, j+1) x [i, i+1), the COCO/DOTA convention), by supersampling."""
    h, w = size
    hi = np.zeros((h * factor, w * factor), np.uint8)
    pts = np.round((np.asarray(polygon, np.float64) * factor - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(hi, [pts.reshape(-1, 1, 2)], 1, lineType=cv2.LINE_8, shift=4)
    return hi.reshape(h, factor, w, factor).mean((1, 3), dtype=np.float32)


def polygon_mask(size, polygon):
    """Bool mask of the pixels at least half covered by the polygon (the drawn label mask)."""
    return coverage(size, polygon) >= 0.5


def polygon_area(polygon):
    """Shoelace area of an (N, 2) polygon."""
    p = np.asarray(polygon, np.float64)
    x, y = p[:, 0], p[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def regular_polygon(cx, cy, rx, ry, n, rot=0.0):
    """The n vertices of a regular polygon stretched to radii (rx, ry) around (cx, cy), the first
    at angle ``rot``; with many vertices, an ellipse."""
    t = rot + 2 * np.pi * np.arange(n) / n
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def rotated_rect(cx, cy, w, h, angle):
    """Corners (clockwise in image coordinates, y down) of a w x h rectangle rotated by angle."""
    c, s = np.cos(angle), np.sin(angle)
    local = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    rot = np.array([[c, -s], [s, c]])
    return local @ rot.T + np.array([cx, cy])


def place(rng, size, radius, placed, margin=2.0, tries=50):
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


def texture(kind, colour, size, rng, angle=0.0):
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


def background(size, rng, colour, noise=6.0):
    """Smooth, mildly textured background (gradient + low-frequency blobs + noise)."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = rng.uniform(-0.15, 0.15, 2)
    grad = 1.0 + g[0] * (xx / w - 0.5) + g[1] * (yy / h - 0.5)
    low = cv2.resize(rng.normal(0, 1, (4, 4)).astype(np.float32), (w, h),
                     interpolation=cv2.INTER_CUBIC)
    img = np.asarray(colour, np.float32) * (grad + 0.05 * low)[..., None]
    return img + rng.normal(0, noise, (h, w, 3)).astype(np.float32)


def paint(img, polygon, tex):
    """Blend the texture into ``img`` with the polygon's (anti-aliased) coverage; returns the
    label mask (pixels at least half covered)."""
    alpha = coverage(img.shape[:2], polygon)
    img += alpha[..., None] * (tex - img)
    return alpha >= 0.5


def finish_image(img, rng, noise=3.0):
    """The drawn float image with sensor noise, rounded and clipped to uint8."""
    img = img + rng.normal(0, noise, img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)
