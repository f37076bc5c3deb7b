"""The stock train/test tools of mmseg, mmdet and mmrotate run on mmfreq configs:
training, checkpoint, resume with iteration and optimizer state, evaluation, 2-process DDP."""
import importlib.util
import math
import sys

import pytest
from mmrun import (CONFIGS, assert_finite_losses, data_options, free_port, load_checkpoint, run,
                   short_schedule, train_resume_test)

DEMO = CONFIGS / 'demo'
TINY_CONFIGS = dict(
    mmseg=DEMO / 'upernet_r50-tiny_40it_demo-ade20k-64x64.py',
    mmdet=DEMO / 'mask-rcnn_r50-tiny_fpn_40it_demo-coco-128.py',
    mmrotate=DEMO / 'oriented-rcnn-le90_r50-tiny_fpn_40it_demo-dota-128.py')


@pytest.mark.parametrize('codebase', [
    pytest.param(codebase, marks=pytest.mark.skipif(
        importlib.util.find_spec(codebase) is None, reason=f'{codebase} is not installed'))
    for codebase in TINY_CONFIGS])
def test_train_resume_test(codebase, demo_root, tmp_path):
    value = train_resume_test(codebase, TINY_CONFIGS[codebase], demo_root, tmp_path)
    assert math.isfinite(value) and value >= 0


def test_distributed_two_processes_gloo(demo_root, tmp_path):
    config = DEMO / 'upernet_r50-fdconv-tiny_40it_demo-ade20k-64x64.py'  # FDConv with KSM and FBM
    log = run(['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir', str(tmp_path),
               '--cfg-options', *data_options('mmseg', demo_root), *short_schedule(2)],
              env=dict(PORT=str(free_port()), PYTHON=sys.executable))
    assert 'distributed backend gloo' in log
    assert 'Distributed training: True' in log and 'GPU number: 2' in log  # mmengine's world size
    assert 'Iter(val) [2/2]' in log  # the 4 validation images are split over the 2 processes
    assert_finite_losses(log, 2)
    # every gradient has its parameter's layout, as DDP's buckets expect (no copy per step)
    assert 'Grad strides do not match bucket view strides' not in log
    assert load_checkpoint(tmp_path / 'iter_2.pth')['meta']['iter'] == 2
