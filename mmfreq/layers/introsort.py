"""The permutation that libstdc++'s ``std::sort`` gives, computed the same on every machine.

FDConv's Fourier groups are cut from the frequency order of the weight's spectrum, and most
frequency norms occur several times, so that order depends on how ties fall. The authors' release
builds it with ``torch.sort`` on the CPU, which sorts (value, index) pairs with ``std::sort`` of
libstdc++ and compares values only. The tie order is therefore whatever libstdc++'s introsort
leaves: released checkpoints were trained with it. This module reproduces that algorithm exactly,
independent of the torch version, the CPU and the C++ library in use (docs/fdconv.md, "Fourier
groups").

libstdc++'s ``std::sort`` (unchanged since GCC 4) is an introsort:

* while a range holds more than 16 elements: if the depth budget (``2 * floor(log2 n)``) is spent,
  heap-sort the range; otherwise move the median of (second, middle, last) elements to the front,
  Hoare-partition the rest around it without bound checks, recurse into the right part and loop
  on the left part (the pivot stays at the front of the left part);
* then one insertion sort over everything. Insertion sort never moves an element past an equal
  one, so this final pass is a stable sort of what the partitioning left.

The partitioning is evaluated for all ranges of one recursion depth at once with array operations
(the k-th left stop of a Hoare partition pairs with the k-th right stop, which is what makes it
vectorisable), so a 1.2M-element order takes about a second. The rare heap-sort fallback is a
direct transcription.
"""
from typing import Optional

import numpy as np

__all__ = ['std_sort_indices']

INSERTION_THRESHOLD = 16


def std_sort_indices(keys: np.ndarray, depth_limit: Optional[int] = None) -> np.ndarray:
    """Indices that sort ``keys`` (1-D, compared with ``<``; no NaN) exactly as libstdc++'s
    ``std::sort`` sorts the pairs ``(keys[i], i)`` by key. int64 ``(n,)``.

    ``depth_limit`` overrides the introsort depth budget (tests use it to reach the heap-sort
    fallback).
    """
    keys = np.array(keys, copy=True).reshape(-1)
    n = keys.size
    index = np.arange(n, dtype=np.int64)
    if n == 0:
        return index
    depth = 2 * (n.bit_length() - 1) if depth_limit is None else depth_limit
    first = np.zeros(1, dtype=np.int64)
    last = np.full(1, n, dtype=np.int64)
    while True:
        long_enough = last - first > INSERTION_THRESHOLD
        first, last = first[long_enough], last[long_enough]
        if first.size == 0:
            break
        if depth == 0:
            for start, stop in zip(first.tolist(), last.tolist()):
                _heap_sort(keys, index, start, stop)
            break
        depth -= 1
        _move_median_to_first(keys, index, first, last)
        cut = _unguarded_partition(keys, index, first, last)
        first, last = np.concatenate([first, cut]), np.concatenate([cut, last])
    return index[np.argsort(keys, kind='stable')]


def _swap(keys: np.ndarray, index: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    for values in (keys, index):
        held = values[a].copy()
        values[a] = values[b]
        values[b] = held


def _move_median_to_first(keys, index, first, last) -> None:
    """``std::__move_median_to_first(first, first + 1, mid, last - 1)`` for every range."""
    a, b, c = first + 1, first + (last - first) // 2, last - 1
    ka, kb, kc = keys[a], keys[b], keys[c]
    median = np.where(ka < kb, np.where(kb < kc, b, np.where(ka < kc, c, a)),
                      np.where(ka < kc, a, np.where(kb < kc, c, b)))
    _swap(keys, index, first, median)


def _unguarded_partition(keys, index, first, last) -> np.ndarray:
    """``std::__unguarded_partition(first + 1, last, first)`` for every range; returns the cuts.

    The left scan stops at elements ``>= pivot``, the right scan at elements ``<= pivot``. With
    ``L`` the ascending positions of the former and ``R`` the descending positions of the latter
    (original values), the k-th exchange swaps ``L[k]`` and ``R[k]`` while ``L[k] < R[k]``; after
    ``K`` exchanges the left scan stops at ``min(L[K], R[K-1])`` (the element swapped into
    ``R[K-1]`` is ``>= pivot``), which is where the partition returns.
    """
    num_ranges = first.size
    lengths = last - first - 1
    offsets = np.cumsum(lengths) - lengths
    position = (np.arange(lengths.sum(), dtype=np.int64)
                + np.repeat(first + 1 - offsets, lengths))
    values = keys[position]
    pivot = np.repeat(keys[first], lengths)
    stops_left, stops_right = values >= pivot, values <= pivot
    left, right = position[stops_left], position[stops_right]
    count_left = np.add.reduceat(stops_left, offsets, dtype=np.int64)
    count_right = np.add.reduceat(stops_right, offsets, dtype=np.int64)
    start_left = np.cumsum(count_left) - count_left
    end_right = np.cumsum(count_right)

    pairs = np.minimum(count_left, count_right)
    pair_range = np.repeat(np.arange(num_ranges), pairs)
    k = np.arange(pair_range.size, dtype=np.int64) - (np.cumsum(pairs) - pairs)[pair_range]
    pair_left = left[start_left[pair_range] + k]
    pair_right = right[end_right[pair_range] - 1 - k]
    exchanged = pair_left < pair_right
    exchanges = np.bincount(pair_range[exchanged], minlength=num_ranges)
    _swap(keys, index, pair_left[exchanged], pair_right[exchanged])

    unbounded = np.iinfo(np.int64).max
    next_left = np.where(exchanges < count_left,
                         left[np.minimum(start_left + exchanges, max(left.size - 1, 0))],
                         unbounded)
    last_right = np.where(exchanges > 0,
                          right[np.clip(end_right - exchanges, 0, max(right.size - 1, 0))],
                          unbounded)
    return np.minimum(next_left, last_right)


def _heap_sort(keys: np.ndarray, index: np.ndarray, start: int, stop: int) -> None:
    """``std::__partial_sort(first, last, last)`` (make_heap, then sort_heap) on one range."""
    heap = list(zip(keys[start:stop].tolist(), index[start:stop].tolist()))

    def push_heap(hole: int, top: int, value) -> None:
        parent = (hole - 1) // 2
        while hole > top and heap[parent][0] < value[0]:
            heap[hole] = heap[parent]
            hole, parent = parent, (parent - 1) // 2
        heap[hole] = value

    def adjust_heap(hole: int, length: int, value) -> None:
        top = child = hole
        while child < (length - 1) // 2:
            child = 2 * (child + 1)
            if heap[child][0] < heap[child - 1][0]:
                child -= 1
            heap[hole] = heap[child]
            hole = child
        if length % 2 == 0 and child == (length - 2) // 2:
            child = 2 * (child + 1)
            heap[hole] = heap[child - 1]
            hole = child - 1
        push_heap(hole, top, value)

    length = len(heap)
    for parent in range((length - 2) // 2, -1, -1):
        adjust_heap(parent, length, heap[parent])
    for end in range(length - 1, 0, -1):
        value = heap[end]
        heap[end] = heap[0]
        adjust_heap(0, end, value)
    keys[start:stop] = [key for key, _ in heap]
    index[start:stop] = [i for _, i in heap]
