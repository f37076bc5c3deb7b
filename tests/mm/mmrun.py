"""Helpers shared by the tests: running the stock tools (``tools/train.py`` / ``tools/test.py``)
in a subprocess on demo data, as a user would, and counting parameters."""
import importlib.util
import math
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'

# dataset folder written by mmfreq.demo_data for each demo dataset, and each codebase's default
DEMO_ROOTS = dict(ade20k='ade20k/ADEChallengeData2016/', coco='coco/', dota='dota/',
                  cityscapes='cityscapes/')
DEFAULT_DATASETS = dict(mmseg='ade20k', mmdet='coco', mmrotate='dota', mmyolo='coco')
METRIC_PATTERNS = dict(
    mmseg=r'mIoU: ([-\d.]+)',
    mmdet=r'coco/bbox_mAP: ([-\d.]+)',
    mmrotate=r'dota/mAP: ([-\d.]+)',
    mmyolo=r'coco/bbox_mAP: ([-\d.]+)')
NEEDS_MMYOLO = pytest.mark.skipif(
    importlib.util.find_spec('mmyolo') is None,
    reason='needs mmyolo, the optional extra [yolo] (pip install -e ".[yolo]")')


def needs_mmyolo(config) -> bool:
    """Whether a config file, or a local base of it, inherits an ``mmyolo::`` config."""
    text = Path(config).read_text()
    bases = re.findall(r"'(\.{1,2}/[^']+\.py)'", text)
    return 'mmyolo::' in text or any(needs_mmyolo(Path(config).parent / b) for b in bases)


def config_params(configs) -> list:
    """pytest parameters of config paths; those needing mmyolo skip when it is absent."""
    return [pytest.param(c, marks=[NEEDS_MMYOLO] if needs_mmyolo(c) else [], id=Path(c).stem)
            for c in configs]


def data_options(codebase: str, demo_root, dataset: str = None) -> list:
    """``--cfg-options`` entries pointing a demo config at demo data under ``demo_root``
    (``dataset``: a key of ``DEMO_ROOTS``, default the codebase's)."""
    root = f'{demo_root}/{DEMO_ROOTS[dataset or DEFAULT_DATASETS[codebase]]}'
    options = [f'{loader}.dataset.data_root={root}'
               for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    if codebase in ('mmdet', 'mmyolo'):
        ann_file = f'{root}annotations/instances_val2017.json'
        options += [f'val_evaluator.ann_file={ann_file}', f'test_evaluator.ann_file={ann_file}']
    return options


def run(args, timeout=900, env=None) -> str:
    """Run a command from the repository root; fail the test with its output if it fails."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    proc = subprocess.run(args, cwd=REPO, env=full_env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    assert proc.returncode == 0, f'{" ".join(map(str, args))} failed:\n{proc.stdout[-8000:]}'
    return proc.stdout


def train(config, work_dir, options=(), extra=()) -> str:
    return run([sys.executable, 'tools/train.py', str(config), '--work-dir', str(work_dir), *extra,
                '--cfg-options', *options])


def test(config, checkpoint, work_dir, options=()) -> str:
    return run([sys.executable, 'tools/test.py', str(config), str(checkpoint), '--work-dir',
                str(work_dir), '--cfg-options', *options])


def short_schedule(iters: int) -> list:
    """Train ``iters`` iterations and checkpoint every iteration; mmengine still validates once
    after the last iteration (``val_dataloader=None val_cfg=None val_evaluator=None`` skips it)."""
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters + 1000}',
            'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1']


def train_losses(log: str) -> list:
    return [float(v) for v in re.findall(r'Iter\(train\).*?\bloss: ([-\w.]+)', log)]


def assert_finite_losses(log: str, iters: int) -> None:
    losses = train_losses(log)
    assert len(losses) == iters, f'expected {iters} logged losses, got {losses}'
    assert all(math.isfinite(v) for v in losses), losses


def metric(codebase: str, log: str) -> float:
    found = re.findall(METRIC_PATTERNS[codebase], log)
    assert found, f'no {METRIC_PATTERNS[codebase]} in the test log:\n{log[-4000:]}'
    return float(found[-1])


def load_checkpoint(path) -> dict:
    """Load a checkpoint as the stock tools do after ``import mmfreq`` (a weights-only load)."""
    from mmfreq.checkpoint import load
    return load(path, map_location='cpu')


def num_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def train_resume_test(codebase, config, demo_root, work_dir, iters=2, dataset=None,
                      options=()) -> float:
    """Train ``iters`` iterations, resume for one more, evaluate; returns the metric. ``options``
    are more ``--cfg-options`` for all three runs.

    Checks: losses are finite, checkpoints are written and load with ``weights_only=True``,
    resuming restores the iteration count and the optimizer state (AdamW's per-parameter
    ``step`` continues from ``iters`` instead of restarting at 1).
    """
    data = data_options(codebase, demo_root, dataset) + list(options)
    log = train(config, work_dir, data + short_schedule(iters))
    assert_finite_losses(log, iters)
    first = load_checkpoint(Path(work_dir) / f'iter_{iters}.pth')
    assert first['meta']['iter'] == iters

    log = train(config, work_dir, data + short_schedule(iters + 1), extra=['--resume'])
    assert f'resumed epoch: 0, iter: {iters}' in log
    assert_finite_losses(log, 1)
    resumed = load_checkpoint(Path(work_dir) / f'iter_{iters + 1}.pth')
    assert resumed['meta']['iter'] == iters + 1
    # AdamW counts steps per parameter (SGD keeps none)
    steps = {float(s['step']) for s in resumed['optimizer']['state'].values() if 'step' in s}
    assert steps in ({float(iters + 1)}, set()), steps

    log = test(config, Path(work_dir) / f'iter_{iters + 1}.pth', work_dir, data)
    return metric(codebase, log)
