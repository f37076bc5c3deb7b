"""RTMDet-s, YOLOv8-s (mmyolo) and FCOS R50 with FDConv: the full configs build with FDConv where
their headers say and keep the baselines' pretrained weights, and tiny versions train, resume
and test with the stock tools on demo COCO data (YOLOv8 also at batch 1). The YOLOv8 configs need
mmyolo (the optional extra [yolo]) and are skipped without it."""
import copy
import re

import pytest
import torch
from mmrun import (CONFIGS, NEEDS_MMYOLO, assert_finite_losses, config_params, data_options,
                   short_schedule, train, train_resume_test)

import mmfreq  # noqa: F401  (registrations)
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmfreq.analysis.complexity import load_config
from mmfreq.layers import FDConv
from mmfreq.models.run_reports import frozen_dynamic_parameters

FD_DIR, DEMO = CONFIGS / 'fdconv', CONFIGS / 'demo'
# config -> (scope, stock baseline, dynamic layers of the full-width backbone)
CONFIGS_UNDER_TEST = {
    'rtmdet_s-fdconv_8xb32-300e_coco.py': ('mmdet', 'mmdet::rtmdet/rtmdet_s_8xb32-300e_coco.py',
                                          24),
    'yolov8_s-fdconv_syncbn_fast_8xb16-500e_coco.py': (
        'mmyolo', 'mmyolo::yolov8/yolov8_s_syncbn_fast_8xb16-500e_coco.py', 20),
    'fcos_r50-caffe-fdconv_fpn_gn-head_1x_coco.py': (
        'mmdet', 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py', 48),
}


def build(config):
    cfg = load_config(str(config))
    init_default_scope(cfg.default_scope)
    return cfg, MODELS.build(copy.deepcopy(cfg.model))  # building edits the dicts it reads


@pytest.mark.parametrize('config', config_params(FD_DIR / name for name in CONFIGS_UNDER_TEST))
def test_full_config_builds_with_fdconv_and_the_baselines_weights(config):
    scope, baseline, num_dynamic = CONFIGS_UNDER_TEST[config.name]
    cfg, model = build(config)
    stock = load_config(baseline)
    assert cfg.default_scope == stock.default_scope == scope
    layers = {n: m for n, m in model.backbone.named_modules()
              if isinstance(m, FDConv) and m.is_fdconv}
    assert len(layers) == num_dynamic
    assert all(m.kernel_num == 64 and m.KSM_Local is not None for m in layers.values())
    assert all((m.FBM is not None) == (m.kernel_size == (3, 3)) for m in layers.values())
    assert frozen_dynamic_parameters(model) == []  # FCOS freezes layer1: need_grad_list
    # everything but the backbone is the baseline's; the pretrained weights are the baseline's
    for key in ('neck', 'bbox_head', 'train_cfg', 'test_cfg', 'data_preprocessor'):
        assert unscoped(cfg.model.get(key)) == unscoped(stock.model.get(key)), key
    assert unscoped(cfg.optim_wrapper) == unscoped(stock.optim_wrapper)
    assert unscoped(cfg.train_cfg) == unscoped(stock.train_cfg)
    inner = cfg.model.backbone.get('backbone', cfg.model.backbone)
    assert unscoped(inner.get('init_cfg')) == unscoped(stock.model.backbone.get('init_cfg'))


def unscoped(value):
    """A config value without the ``_scope_`` keys that inheriting a ``package::`` base adds."""
    if isinstance(value, dict):
        return {k: unscoped(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return [unscoped(v) for v in value]
    return value


def tiny(name):
    return DEMO / name


@pytest.mark.parametrize('codebase, name', [
    ('mmdet', 'rtmdet_s-fdconv-tiny_40it_demo-coco-128.py'),
    pytest.param('mmyolo', 'yolov8_s-fdconv-tiny_40it_demo-coco-128.py', marks=NEEDS_MMYOLO),
])
def test_tiny_realtime_detector_trains_resumes_and_tests(codebase, name, demo_root, tmp_path):
    metric = train_resume_test(codebase, tiny(name), demo_root, tmp_path / 'run')
    assert 0 <= metric <= 1


@NEEDS_MMYOLO
def test_tiny_yolov8_trains_at_batch_one(demo_root, tmp_path):
    name = 'yolov8_s-fdconv-tiny_40it_demo-coco-128.py'
    log = train(tiny(name), tmp_path, data_options('mmyolo', demo_root) + short_schedule(2)
                + ['train_dataloader.batch_size=1'])
    assert_finite_losses(log, 2)


def test_tiny_fcos_loads_plain_imagenet_weights_converted_on_load(demo_root, tmp_path):
    """The recipe's init_cfg with a plain (caffe-style) ResNet checkpoint: converted on load, one
    WARNING line in each training run's log with the number of layers; train, resume, test."""
    name = 'fcos_r50-caffe-fdconv-tiny_fpn_gn-head_40it_demo-coco-128.py'
    cfg = Config.fromfile(tiny(name))
    init_default_scope('mmdet')
    backbone = {k: v for k, v in cfg.model.backbone.items()
                if k not in ('conv_cfg', 'need_grad_list')}
    plain = MODELS.build(dict(backbone, type='ResNet')).state_dict()
    checkpoint = tmp_path / 'resnet50_caffe_tiny.pth'
    torch.save({'state_dict': plain}, checkpoint)
    pretrained = ['model.backbone.init_cfg._delete_=True',
                  'model.backbone.init_cfg.type=Pretrained',
                  f'model.backbone.init_cfg.checkpoint={checkpoint}']
    work_dir = tmp_path / 'run'
    metric = train_resume_test('mmdet', tiny(name), demo_root, work_dir, options=pretrained)
    assert 0 <= metric <= 1
    logs = sorted(work_dir.glob('*/*.log'))
    train_logs = [p.read_text() for p in logs if 'Iter(train)' in p.read_text()]
    assert len(train_logs) == 2  # the first run and the resumed one initialise the weights
    for log in train_logs:
        found = re.findall(r'WARNING - mmfreq: converted the dense `weight` of (\d+) FDConv', log)
        assert found == ['39']  # stages 2-4: (4 + 6 + 3) blocks x 3 convs; stage 1 is 16 wide
        assert 'dynamic parameters (KSM / FBM)' not in log  # layer1 is frozen, but plain
