"""The benchmark scripts run end to end and print complete tables (tiny sizes; no timing checks)."""
import math
import re
import sys

import pytest

from mmrun import run


def _run(script, *args):
    return run([sys.executable, f'benchmarks/{script}', *args], timeout=600)


def _measured_rows(text, first_cell):
    """Table rows whose first cell starts with ``first_cell``, as lists of cells."""
    return [[cell.strip() for cell in line.strip().strip('|').split('|')]
            for line in text.splitlines() if line.startswith(f'| {first_cell}')]


def _positive_numbers(cells):
    numbers = [float(n) for cell in cells for n in re.findall(r'\d+\.\d+', cell)]
    return numbers and all(math.isfinite(n) and n > 0 for n in numbers)


@pytest.mark.parametrize('parts', [False, True])
def test_bench_fdconv_prints_a_row_per_shape_and_batch(parts):
    out = _run('bench_fdconv.py', '--device', 'cpu', '--shapes', '32@6', '24@4',
               '--batches', '1', '2', '--repeats', '1', '--threads', '1',
               *(['--parts'] if parts else []))
    rows = _measured_rows(out, 'cpu')
    cases = [('c32@6²', '1'), ('c32@6²', '2'), ('c24@4²', '1'), ('c24@4²', '2')]
    if parts:
        assert [(row[1], row[2]) for row in rows] == cases
    else:  # a row per variant, with time and saved memory
        variants = ['conv', 'FDConv', 'FDConv recompute=False']
        assert [(row[1], row[2], row[3]) for row in rows] == [
            (*case, variant) for case in cases for variant in variants]
    for row in rows:
        numbers = row[3:] if parts else [*row[4:8], *row[9:]]
        assert _positive_numbers(numbers), row


def test_bench_fdam_prints_both_statistics():
    out = _run('bench_fdam.py', '--devices', 'cpu', '--sizes', '32x64', '--repeats', '1',
               '--warmup', '0', '--threads', '1')
    rows = _measured_rows(out, 'CPU')
    assert [row[3] for row in rows] == ['median', 'min']
    assert all(_positive_numbers(row[4:]) for row in rows)
