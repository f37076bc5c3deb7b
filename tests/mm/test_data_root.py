"""``--data-root DIR`` of tools/train.py and tools/test.py (mmfreq.data_root) moves every dataset and
evaluator path of a config, and a configuration that cannot train is refused when the run starts
(mmfreq.config_checks)."""
import subprocess
import sys

import pytest
from mmengine.config import Config
from mmrun import CONFIGS, REPO, assert_finite_losses, short_schedule

from mmfreq.config_checks import pooled_batch_norm_problem
from mmfreq.data_root import config_data_roots, rewrite_data_root

# one full config per dataset: the stock bases they inherit fix the evaluators' paths
DATASET_CONFIGS = dict(
    coco=CONFIGS / 'fdconv' / 'mask-rcnn_r50-fdconv_fpn_adamw-1x_coco.py',
    ade20k=CONFIGS / 'fdconv' / 'upernet_r50-fdconv_4xb4-160k_ade20k-512x512.py',
    cityscapes=CONFIGS / 'fdconv' / 'mask2former_r50-fdconv_8xb2-90k_cityscapes-512x1024.py',
    dota=CONFIGS / 'fdam' / 'oriented-rcnn-le90_lsknet-s-fdam_fpn_1x_dota.py')


def _strings(node):
    if hasattr(node, 'keys'):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


@pytest.mark.parametrize('dataset', list(DATASET_CONFIGS))
def test_no_path_still_points_at_the_old_root(dataset, tmp_path):
    if dataset == 'dota':
        pytest.importorskip('mmrotate', reason='mmrotate is not installed (it needs mmdet <= 3.1.0)')
    cfg = Config.fromfile(str(DATASET_CONFIGS[dataset]))
    [old] = {root.rstrip('/') for root in config_data_roots(cfg)}
    stale = [s for s in _strings(cfg) if old in s]
    assert len(stale) >= 3  # the three loaders at least; COCO's evaluators too
    changed = rewrite_data_root(cfg, str(tmp_path / 'mine'))
    assert changed == len(stale)
    assert not [s for s in _strings(cfg) if old in s]
    assert {r.rstrip('/') for r in config_data_roots(cfg)} == {str(tmp_path / 'mine')}
    if dataset == 'coco':
        assert cfg.val_evaluator.ann_file == \
            f'{tmp_path}/mine/annotations/instances_val2017.json'


def test_several_roots_are_refused():
    cfg = Config(dict(train_dataloader=dict(dataset=dict(data_root='data/a/')),
                      val_dataloader=dict(dataset=dict(data_root='data/b/'))))
    with pytest.raises(ValueError, match='2 different roots .*--cfg-options'):
        rewrite_data_root(cfg, '/x')


def test_train_and_test_on_coco_with_data_root(demo_root, tmp_path):
    config = CONFIGS / 'demo' / 'faster-rcnn_r50-fdconv-tiny_fpn_40it_demo-coco-128.py'
    work = tmp_path / 'work'
    args = ['--data-root', str(demo_root / 'coco'), '--work-dir', str(work)]
    out = subprocess.run([sys.executable, 'tools/train.py', str(config), *args, '--cfg-options',
                          *short_schedule(1)], cwd=REPO, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=900).stdout
    assert f'--data-root {demo_root / "coco"}:' in out, out[-3000:]
    assert_finite_losses(out, 1)
    out = subprocess.run([sys.executable, 'tools/test.py', str(config), str(work / 'iter_1.pth'),
                          *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=900).stdout
    assert 'coco/bbox_mAP:' in out, out[-3000:]


def test_pooled_batch_norm_at_one_image_is_refused_at_start(demo_root, tmp_path):
    config = CONFIGS / 'demo' / 'upernet_r50-tiny_40it_demo-ade20k-64x64.py'
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', str(config), '--data-root',
         str(demo_root / 'ade20k' / 'ADEChallengeData2016'), '--work-dir', str(tmp_path),
         '--cfg-options', 'train_dataloader.batch_size=1', *short_schedule(1)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    assert proc.returncode != 0
    assert 'this configuration cannot train: UPerHead pools to 1x1 before a' in proc.stdout
    assert 'train_dataloader.batch_size=1' in proc.stdout
    assert 'Iter(train)' not in proc.stdout  # refused before the first iteration


@pytest.mark.parametrize('norm, batch, world, refused', [
    ('BN', 1, 1, True), ('BN', 2, 1, False), ('SyncBN', 1, 8, False), ('SyncBN', 1, 1, True),
    ('GN', 1, 1, False)])
def test_pooled_batch_norm_rule(norm, batch, world, refused):
    cfg = Config.fromfile(str(DATASET_CONFIGS['ade20k']))
    cfg.model.decode_head.norm_cfg = dict(type=norm, num_groups=8) if norm == 'GN' else \
        dict(type=norm)
    cfg.train_dataloader.batch_size = batch
    assert bool(pooled_batch_norm_problem(cfg, world)) == refused
