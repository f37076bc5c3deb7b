#!/usr/bin/env python
"""The demo: write the demo datasets, train a small config for a few dozen iterations with the
stock train tool, evaluate the checkpoint with the stock test tool, print the metric and where
the checkpoint and logs are. A few minutes on 2 CPU cores.

    python tools/demo.py [--config CONFIG] [--work-dir DIR]
"""
import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = 'configs/demo/upernet_r50-fdconv-tiny_40it_demo-ade20k-64x64.py'
METRICS = (r'mIoU: ([-\d.]+)', r'coco/bbox_mAP: ([-\d.]+)', r'dota/mAP: ([-\d.]+)')


def run(args) -> str:
    print('$', ' '.join(args), flush=True)
    proc = subprocess.run([sys.executable, *args], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode:
        sys.exit(f'{proc.stdout[-6000:]}\nfailed: {" ".join(args)}')
    return proc.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    args = parser.parse_args()

    run(['tools/make_demo_data.py'])
    train_log = run(['tools/train.py', args.config, '--work-dir', args.work_dir])
    losses = re.findall(r'Iter\(train\).*?\bloss: ([-\w.]+)', train_log)
    checkpoint = (REPO / args.work_dir / 'last_checkpoint').read_text().strip()
    test_log = run(['tools/test.py', args.config, checkpoint, '--work-dir', args.work_dir])
    name, value = next((pattern.split(':')[0], found[-1]) for pattern in METRICS
                       if (found := re.findall(pattern, test_log)))
    logs = sorted((REPO / args.work_dir).glob('*/*.log'))
    print(f'\nloss: {losses[0]} (first logged) -> {losses[-1]} (last)')
    print(f'{name} on the demo validation set: {value}')
    print(f'checkpoint: {checkpoint}')
    print(f'logs: {logs[-1] if logs else args.work_dir}')


if __name__ == '__main__':
    main()
