"""FDConv's Fourier groups are a fixed function of the layer's shape, equal to the release's.

The group tables below were fingerprinted by running the authors' grouping code
(``torch.sort(torch.norm(freq_grid, dim=-1))``) with torch 1.11, the version they trained with, on
an AVX2 and an AVX-512 CPU (the two agree). torch 1.11 built for CPUs without AVX2
(``ATEN_CPU_CAPABILITY=default``) rounds some norms differently (no fused multiply-add) and gives
different tables for most 3x3 shapes; docs/fdconv.md, "Fourier groups", has the details.
"""
import hashlib
import math
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmfreq.layers import FDConv
from mmfreq.layers.fourier_disjoint import (fourier_disjoint_groups, frequency_order,
                                            rfft2_frequency_norm)
from mmfreq.layers.introsort import std_sort_indices

# (d1, d2, kernel_num) -> sha256 of the int64 group table, first 16 hex digits (torch 1.11, AVX2)
RELEASE_GROUP_FINGERPRINTS = {
    (192, 192, 4): '8853f009e0d52458', (192, 192, 64): '771ae48633f86038',  # 64 -> 64, 3x3
    (384, 384, 4): '5f65a062a518bb61', (384, 384, 64): '4fb9d48adb1bf7c3',  # 128 -> 128, 3x3
    (64, 256, 4): '9f85641f04815925', (64, 256, 64): 'af28e79ca58bee9b',  # 256 -> 64, 1x1
    (256, 64, 4): '67ff4349bd08bb89', (256, 64, 64): '6b22a84af5ba143e',  # 64 -> 256, 1x1
    (144, 96, 4): '59de3a26e7654ca3', (144, 96, 64): '492d94aa184a2ca5',  # 32 -> 48, 3x3
    (75, 45, 4): 'b75e06df7fe52128', (75, 45, 64): 'd17022e2c4c7133a',  # odd sizes
}
# the same tables from torch 1.11 under ATEN_CPU_CAPABILITY=default, where they differ
DEFAULT_CAPABILITY_FINGERPRINTS = {
    (192, 192, 64): '197821885173745a', (384, 384, 64): '22af31f5a249864b',
    (144, 96, 64): '8be169d3a76088de', (75, 45, 64): 'a8195e1fc19a58ed',
}


def fingerprint(d1: int, d2: int, kernel_num: int) -> str:
    groups = fourier_disjoint_groups(d1, d2, kernel_num).numpy().astype('<i8')
    return hashlib.sha256(groups.tobytes()).hexdigest()[:16]


def test_group_tables_are_the_release_tables():
    for (d1, d2, kernel_num), expected in RELEASE_GROUP_FINGERPRINTS.items():
        assert fingerprint(d1, d2, kernel_num) == expected, (d1, d2, kernel_num)
    for (d1, d2, kernel_num), other in DEFAULT_CAPABILITY_FINGERPRINTS.items():
        assert fingerprint(d1, d2, kernel_num) != other


@pytest.mark.parametrize('capability', ['default', 'avx2', 'avx512'])
def test_group_tables_do_not_depend_on_the_cpu_capability(capability):
    """The same tables under each of torch's CPU kernel sets (a capability the CPU lacks falls
    back to the best one it has)."""
    code = ('import json, sys; sys.path.insert(0, sys.argv[1]); '
            'from test_fourier_groups import RELEASE_GROUP_FINGERPRINTS as F, fingerprint; '
            'print(json.dumps({str(k): fingerprint(*k) == v for k, v in F.items()}))')
    proc = subprocess.run([sys.executable, '-c', code, os.path.dirname(__file__)],
                          env=dict(os.environ, ATEN_CPU_CAPABILITY=capability),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'false' not in proc.stdout and 'true' in proc.stdout, proc.stdout


def test_norms_are_rounded_with_a_fused_multiply_add():
    """``sqrt(fma(fx, fx, float32(fy * fy)))``: fy = 1/3 (d1 = 3), fx = 2/5 (d2 = 5)."""
    fy, fx = np.float32(1.0) * np.float32(1 / 3), np.float32(2.0) * np.float32(1 / 5)
    exact = math.fsum([float(fx) * float(fx), float(np.float32(fy * fy))])
    expected = np.float32(math.sqrt(float(np.float32(exact))))
    assert rfft2_frequency_norm(3, 5)[1, 2].item() == expected
    assert rfft2_frequency_norm(3, 5).dtype == torch.float32


def test_groups_are_consecutive_runs_of_the_frequency_order():
    order = frequency_order(96, 60)
    norms = rfft2_frequency_norm(96, 60).flatten()
    assert (norms[order][1:] >= norms[order][:-1]).all()
    groups = fourier_disjoint_groups(96, 60, 7).flatten()
    assert (groups[order][1:] >= groups[order][:-1]).all()
    sizes = torch.bincount(groups, minlength=7)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == 96 * 31


def test_layers_use_the_tables():
    layer = FDConv(64, 64, 3, padding=1, kernel_num=64)
    assert torch.equal(layer.fdw_group_index, fourier_disjoint_groups(192, 192, 64).flatten())


# ------------------------------------------------------------------------------------------
# libstdc++'s std::sort, transcribed one element at a time, against the vectorised version
# ------------------------------------------------------------------------------------------

def scalar_std_sort(keys, depth_limit=None):
    """libstdc++ ``std::sort`` of ``(key, index)`` pairs by key: introsort (median of three into
    the first slot, unguarded Hoare partition, heap sort when the depth budget is spent, ranges of
    at most 16 left for the final insertion sort)."""
    a = [(k, i) for i, k in enumerate(keys)]

    def less(x, y):
        return x[0] < y[0]

    def swap(i, j):
        a[i], a[j] = a[j], a[i]

    def heap_sort(first, last):
        def sift(hole, length, value):
            top = child = hole
            while child < (length - 1) // 2:
                child = 2 * (child + 1)
                if less(a[first + child], a[first + child - 1]):
                    child -= 1
                a[first + hole] = a[first + child]
                hole = child
            if length % 2 == 0 and child == (length - 2) // 2:
                child = 2 * (child + 1)
                a[first + hole] = a[first + child - 1]
                hole = child - 1
            parent = (hole - 1) // 2
            while hole > top and less(a[first + parent], value):
                a[first + hole] = a[first + parent]
                hole, parent = parent, (parent - 1) // 2
            a[first + hole] = value

        length = last - first
        for parent in range((length - 2) // 2, -1, -1):
            sift(parent, length, a[first + parent])
        for end in range(length - 1, 0, -1):
            value, a[first + end] = a[first + end], a[first]
            sift(0, end, value)

    def introsort(first, last, depth):
        while last - first > 16:
            if depth == 0:
                heap_sort(first, last)
                return
            depth -= 1
            x, y, z = first + 1, first + (last - first) // 2, last - 1
            if less(a[x], a[y]):
                swap(first, y if less(a[y], a[z]) else z if less(a[x], a[z]) else x)
            else:
                swap(first, x if less(a[x], a[z]) else z if less(a[y], a[z]) else y)
            lo, hi = first + 1, last
            while True:
                while less(a[lo], a[first]):
                    lo += 1
                hi -= 1
                while less(a[first], a[hi]):
                    hi -= 1
                if not lo < hi:
                    break
                swap(lo, hi)
                lo += 1
            introsort(lo, last, depth)
            last = lo

    n = len(a)
    if n:
        introsort(0, n, 2 * (n.bit_length() - 1) if depth_limit is None else depth_limit)
        for i in range(1, n):  # insertion sort: stable, never passes an equal element
            value, j = a[i], i
            while j > 0 and less(value, a[j - 1]):
                a[j] = a[j - 1]
                j -= 1
            a[j] = value
    return [i for _, i in a]


def test_vectorised_introsort_equals_the_transcription():
    rng = random.Random(0)
    for _ in range(150):
        n = rng.choice([0, 1, 5, 16, 17, 40, 333, 2000])
        distinct = rng.choice([1, 2, 3, 10, 10 ** 6])
        keys = np.array([rng.randrange(distinct) for _ in range(n)], dtype=np.float32)
        depth = rng.choice([None, None, 0, 1, 2])  # small budgets reach the heap sort
        assert std_sort_indices(keys, depth).tolist() == scalar_std_sort(keys.tolist(), depth)
    norms = rfft2_frequency_norm(48, 40).flatten().numpy()
    assert frequency_order(48, 40).tolist() == scalar_std_sort(norms.tolist())
