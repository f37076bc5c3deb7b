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


def test_bench_fdam_prints_time_and_memory_per_variant():
    out = _run('bench_fdam.py', '--devices', 'cpu', '--sizes', '32x64', '--repeats', '2',
               '--warmup', '0', '--threads', '1')
    rows = _measured_rows(out, 'cpu')
    assert [(row[1], row[2]) for row in rows] == [
        ('32x64', variant) for variant in ('stock mmseg', 'plain', '+AttInv', '+AttInv+FreqScale')]
    for row in rows:  # params, repeats, median, min, x plain, x stock | memory kind | MiB, x plain
        assert row[4] == '2' and row[9] == 'saved for backward', row
        assert _positive_numbers([*row[3:9], *row[10:]]), row
    plain = rows[1]
    assert plain[7] == '1.000' and plain[11] == '1.00'


def test_bench_backbone_prints_both_pairs_at_tiny_widths():
    out = _run('bench_backbone.py', '--device', 'cpu', '--batch', '1', '--size', '64',
               '--repeats', '1', '--warmup', '0', '--threads', '1', '--resnet-width', '16',
               '--kernel-num', '4', '--vit-dims', '64', '--vit-depth', '2', '--vit-heads', '2')
    rows = _measured_rows(out, 'cpu')
    assert [(row[1], row[2], row[3]) for row in rows] == [
        ('ResNet-50', '1x3x64x64', 'plain'), ('ResNet-50', '1x3x64x64', 'FDConv'),
        ('DeiT-S', '1x3x64x64', 'plain'), ('DeiT-S', '1x3x64x64', 'FDAM')]
    _check_backbone_rows(rows)


def _check_backbone_rows(rows):
    # params, repeats, median, min, x plain (2), eval min, eval x plain | memory kind | MiB, x plain
    for row in rows:
        assert row[12] == 'saved for backward', row
        assert _positive_numbers([*row[4:12], *row[13:]]), row
    for plain, dynamic in zip(rows[::2], rows[1::2]):
        assert plain[8:10] == ['1.00', '1.00'] and plain[11] == '1.00' and plain[14] == '1.00'
        assert float(dynamic[4]) > float(plain[4])  # FDConv / FDAM add parameters


def test_bench_backbone_plain_torch_resnet_under_autocast():
    """The builder of tools/gpu_check.sh (no OpenMMLab stack needed), with autocast."""
    out = _run('bench_backbone.py', '--device', 'cpu', '--builder', 'torch', '--models',
               'resnet50', '--batch', '1', '--size', '64', '--repeats', '1', '--warmup', '0',
               '--threads', '1', '--resnet-width', '16', '--kernel-num', '4', '--amp', 'bf16')
    assert 'builder torch, autocast bf16' in out
    rows = _measured_rows(out, 'cpu')
    assert [(row[1], row[3]) for row in rows] == [('ResNet-50', 'plain'), ('ResNet-50', 'FDConv')]
    _check_backbone_rows(rows)


def test_bench_fdconv_autocast_rows():
    out = _run('bench_fdconv.py', '--device', 'cpu', '--shapes', '32@6', '--batches', '2',
               '--repeats', '1', '--threads', '1', '--amp', 'off', 'bf16')
    rows = _measured_rows(out, 'cpu')
    assert [(row[0], row[3]) for row in rows] == [
        (device, variant) for device in ('cpu', 'cpu bf16')
        for variant in ('conv', 'FDConv', 'FDConv recompute=False')]


def test_gpu_check_without_cuda_says_so_and_succeeds():
    out = run(['bash', 'tools/gpu_check.sh'], timeout=120, env={'PYTHON': sys.executable})
    assert 'no CUDA device visible: skipping' in out


def test_bench_dynamic_convs_prints_every_layer_per_shape_and_batch():
    out = _run('bench_dynamic_convs.py', '--device', 'cpu', '--shapes', '32@6', '--batches',
               '1', '2', '--repeats', '1', '--threads', '1', '--fdconv-kernel-num', '4')
    rows = _measured_rows(out, 'cpu')
    layers = ['conv', 'FDConv', 'CondConv (8)', 'DY-Conv (4)', 'DCD', 'ODConv (4)', 'KW (1x)',
              'KW (4x)']
    assert [(row[1], row[2], row[3]) for row in rows] == [
        ('c32@6²', batch, layer) for batch in ('1', '2') for layer in layers]
    for row in rows:
        assert _positive_numbers([*row[4:9], *row[10:]]), row
