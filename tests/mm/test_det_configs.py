"""COCO detection configs with FDConv (issue 6): every config builds, the R50-FDConv parameter
delta against the paper (+3.6M), the release recipe, pretrained conversion, and tiny Faster / Mask
R-CNN FDConv runs of the stock train / test tools on demo COCO data (the Mask R-CNN one evaluated
from a checkpoint in the mmdet 2.x release layout, converted by
tools/convert_release_checkpoint.py).
"""
import copy
import importlib.util
import re
from collections import OrderedDict

import pytest
import torch
import mmrun
from mmrun import (CONFIGS, REPO, assert_finite_losses, data_options, metric, num_params,
                   short_schedule, train)

import mmfreq  # noqa: F401  (registrations)
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, init_default_scope
from mmfreq.launch import adapt_config_for_cpu
from mmfreq.layers import FDConv, FDLinear
from mmfreq.layers.fdconv_conversion import convert_state_dict_to_fdconv

FD_DIR = CONFIGS / 'fdconv'
DEMO = CONFIGS / 'demo'
STOCK_FASTER = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
# (plain, FDConv) pairs whose parameter delta the paper reports: +3.6M for both
R50_PAIRS = dict(
    faster=(STOCK_FASTER, FD_DIR / 'faster-rcnn_r50-fdconv_fpn_1x_coco.py'),
    mask=(FD_DIR / 'mask-rcnn_r50_fpn_adamw-1x_coco.py',
          FD_DIR / 'mask-rcnn_r50-fdconv_fpn_adamw-1x_coco.py'))
PAPER_DELTA, DELTA_TOL = 3.6e6, 0.1e6
TINY_FASTER = DEMO / 'faster-rcnn_r50-fdconv-tiny_fpn_40it_demo-coco-128.py'
TINY_MASK = DEMO / 'mask-rcnn_r50-fdconv-tiny_fpn_adamw_40it_demo-coco-128.py'
FD_CONFIGS = sorted(p.name for p in FD_DIR.glob('*rcnn*.py'))  # the detection configs
# what each config must build: backbone type, dynamic layer type (None: plain), pretrained file
EXPECTED = {
    'faster-rcnn_r50-fdconv_fpn_1x_coco.py': ('ResNetFDConv', FDConv, 'resnet50_fdconv.pth'),
    'mask-rcnn_r50_fpn_adamw-1x_coco.py': ('ResNet', None, 'torchvision://resnet50'),
    'mask-rcnn_r50-fdconv_fpn_adamw-1x_coco.py': ('ResNetFDConv', FDConv, 'resnet50_fdconv.pth'),
    'mask-rcnn_swin-t-p4-w7-fdconv_fpn_1x_coco.py': (
        'SwinTransformerFDConv', FDLinear, 'swin_tiny_patch4_window7_224_fdconv.pth'),
    'mask-rcnn_convnext-t_fpn_1x_coco.py': ('ConvNeXt', None, 'convnext_tiny_1k_224.pth'),
    'mask-rcnn_convnext-t-fdconv_fpn_1x_coco.py': (
        'ConvNeXt', FDLinear, 'convnext_tiny_1k_224_fdconv.pth'),
}
_BUILT = {}


def load_config(config) -> Config:
    config = str(config)
    return get_config(config) if config.startswith('mmdet::') else Config.fromfile(config)


def build(config):
    """(config, model) of a config, built once per session on CPU (no pretrained loading)."""
    key = str(config)
    if key not in _BUILT:
        cfg = load_config(config)
        init_default_scope('mmdet')
        _BUILT[key] = (cfg, MODELS.build(cfg.model))
    return _BUILT[key]


def dynamic_layers(model, kind):
    return {n: m for n, m in model.named_modules() if isinstance(m, kind) and m.is_fdconv}


def test_every_fdconv_config_is_covered():
    assert FD_CONFIGS == sorted(EXPECTED)


@pytest.mark.parametrize('name', FD_CONFIGS)
def test_config_builds(name):
    backbone_type, layer_type, checkpoint = EXPECTED[name]
    cfg, model = build(FD_DIR / name)
    assert cfg.custom_imports['imports'] == ['mmfreq']
    assert type(model.backbone).__name__ == backbone_type
    assert cfg.model.backbone.init_cfg.checkpoint.endswith(checkpoint)
    if layer_type is not None:
        # init_cfg points at the file tools/convert_to_fdconv.py writes (README)
        assert cfg.model.backbone.init_cfg.checkpoint.startswith('checkpoints/')
        layers = dynamic_layers(model.backbone, layer_type)
        assert layers and all(m.kernel_num == 64 for m in layers.values())
    assert cfg.train_cfg.max_epochs == 12  # 1x schedule
    assert cfg.train_dataloader.dataset.ann_file == 'annotations/instances_train2017.json'
    # the optimizer of the recipe builds (AMP becomes fp32 on CPU, as the launcher does)
    cfg = copy.deepcopy(cfg)
    adapt_config_for_cpu(cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert len(wrapper.optimizer.param_groups) >= 1


def test_r50_fdconv_recipe():
    cfg, model = build(R50_PAIRS['faster'][1])
    backbone = model.backbone
    names = set(dynamic_layers(backbone, FDConv))
    expected = {f'layer{i}.{j}.conv{k}' for i, blocks in enumerate((3, 4, 6, 3), start=1)
                for j in range(blocks) for k in (1, 2, 3)}
    assert names == expected  # every bottleneck conv; stem and downsample stay plain
    assert not isinstance(backbone.conv1, FDConv) or not backbone.conv1.is_fdconv
    for name, layer in dynamic_layers(backbone, FDConv).items():
        assert (layer.FBM is not None) == name.endswith('conv2'), name  # FBM on the 3x3 convs
        assert layer.FBM is None or layer.FBM.k_list == [2, 4, 8]
        assert layer.KSM_Local is not None and layer.KSM_Global is not None
    # frozen stem stage (frozen_stages=1): KSM / FBM of layer1 stay trainable (need_grad_list)
    assert cfg.model.backbone.frozen_stages == 1
    for name, param in backbone.named_parameters():
        if name.startswith('layer1.'):
            assert param.requires_grad == ('KSM' in name or 'FBM' in name), name

    cfg, model = build(R50_PAIRS['mask'][1])
    optim = cfg.optim_wrapper
    assert optim.type == 'AmpOptimWrapper' and optim.loss_scale == 'dynamic'
    assert optim.optimizer.type == 'AdamW' and optim.optimizer.lr == 1e-4
    assert optim.optimizer.weight_decay == 0.05 and optim.paramwise_cfg.norm_decay_mult == 0
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16
    cpu_cfg = copy.deepcopy(cfg)
    adapt_config_for_cpu(cpu_cfg)
    groups = build_optim_wrapper(model, cpu_cfg.optim_wrapper).optimizer.param_groups
    decay = {id(p): g['weight_decay'] for g in groups for p in g['params']}
    for name, param in model.named_parameters():
        if param.requires_grad and re.search(r'(^|\.)(bn\d*|norm\d*|KSM_Global\.bn|'
                                             r'KSM_Local\.norm|downsample\.1)\.', name):
            assert decay[id(param)] == 0, name  # no weight decay on norm layers
    assert decay[id(model.backbone.layer2[0].conv2.dft_weight)] == 0.05
    choice = cfg.train_pipeline[3]
    assert choice.type == 'RandomChoice'
    assert [s[0] for s in choice.transforms[0][0].scales] == list(range(480, 801, 32))
    assert [t.type for t in choice.transforms[1]] == [
        'RandomChoiceResize', 'RandomCrop', 'RandomChoiceResize']


@pytest.mark.parametrize('pair', sorted(R50_PAIRS))
def test_r50_fdconv_parameter_delta_matches_the_paper(pair):
    plain_cfg, fdconv_cfg = R50_PAIRS[pair]
    _, plain = build(plain_cfg)
    _, fdconv = build(fdconv_cfg)
    delta = num_params(fdconv) - num_params(plain)
    backbone_delta = num_params(fdconv.backbone) - num_params(plain.backbone)
    print(f'{pair} R-CNN R50: plain {num_params(plain) / 1e6:.3f}M, FDConv '
          f'{num_params(fdconv) / 1e6:.3f}M, delta {delta / 1e6:+.3f}M (paper +3.6M)')
    assert delta == backbone_delta  # neck and heads are identical
    assert abs(delta - PAPER_DELTA) <= DELTA_TOL


def test_transformer_fdlinear_parameter_deltas_are_printed():
    _, swin = build(FD_DIR / 'mask-rcnn_swin-t-p4-w7-fdconv_fpn_1x_coco.py')
    _, plain_next = build(FD_DIR / 'mask-rcnn_convnext-t_fpn_1x_coco.py')
    _, fd_next = build(FD_DIR / 'mask-rcnn_convnext-t-fdconv_fpn_1x_coco.py')
    swin_plain = load_config('mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py')
    init_default_scope('mmdet')
    swin_plain_params = num_params(MODELS.build(swin_plain.model.backbone))
    swin_delta = num_params(swin.backbone) - swin_plain_params
    next_delta = num_params(fd_next) - num_params(plain_next)
    print(f'Mask R-CNN Swin-T: {num_params(swin) / 1e6:.2f}M, FDLinear delta '
          f'{swin_delta / 1e6:+.2f}M; ConvNeXt-T: {num_params(plain_next) / 1e6:.2f}M, FDLinear '
          f'delta {next_delta / 1e6:+.2f}M')
    assert 47.5e6 < num_params(plain_next) < 48.5e6  # official ConvNeXt-T Mask R-CNN: 48M
    assert swin_delta > 0 and next_delta > 0


def test_torchvision_resnet50_layout_loads_through_the_converter(tmp_path):
    """torchvision's ResNet-50 layout (stem ``conv1``/``bn1``, ``layer{i}.{j}.conv{k}``,
    ``downsample.{0,1}``, ``fc``) converted by the FDConv converter initialises the backbone of
    the R50-FDConv configs through their ``init_cfg``: every block conv as ``dft_weight``."""
    init_default_scope('mmdet')
    fd_cfg = load_config(R50_PAIRS['faster'][1]).model.backbone
    torchvision = OrderedDict(MODELS.build(dict(type='ResNet', depth=50)).state_dict())
    torchvision['fc.weight'] = torch.randn(1000, 2048)
    torchvision['fc.bias'] = torch.randn(1000)
    converted, names = convert_state_dict_to_fdconv(torchvision, 'resnet')
    assert len(names) == 48  # all bottleneck convs; stem and downsample stay dense
    path = tmp_path / 'resnet50_fdconv.pth'
    torch.save({'state_dict': converted}, path)
    backbone = MODELS.build(dict(fd_cfg, init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    backbone.init_weights()
    state = backbone.state_dict()
    for key, value in converted.items():
        if not key.startswith('fc.'):
            assert torch.equal(state[key], value), key
    assert all(('KSM' in k or 'FBM' in k) for k in state if k not in converted)


def test_r50_fdconv_gradient_checkpointing():
    """``with_cp=True`` (the configs' memory option) gives the same outputs and gradients."""
    init_default_scope('mmdet')
    backbone_cfg = dict(load_config(TINY_FASTER).model.backbone, frozen_stages=-1)
    torch.manual_seed(0)
    plain = MODELS.build(backbone_cfg)
    checkpointed = MODELS.build(dict(backbone_cfg, with_cp=True))
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    grads = []
    for model in (plain, checkpointed):
        model.train()
        sum(o.square().mean() for o in model(x)).backward()
        grads.append(model.layer3[0].conv2.dft_weight.grad)
    torch.testing.assert_close(grads[0], grads[1])


def convert_tool():
    """tools/convert_release_checkpoint.py as a module (its ``main(argv)`` is run in-process)."""
    spec = importlib.util.spec_from_file_location(
        'convert_release_checkpoint', REPO / 'tools' / 'convert_release_checkpoint.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def train_options(demo_root) -> list:
    """Demo data for training, 2 iterations, no validation (the test tool evaluates)."""
    return [option for option in data_options('mmdet', demo_root)
            if not option.startswith('val_')] + short_schedule(2) + [
                'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None']


@pytest.fixture(scope='module')
def tiny_mask_run(demo_root, tmp_path_factory):
    """Train the tiny Mask R-CNN FDConv config 2 iterations with the stock tool."""
    work_dir = tmp_path_factory.mktemp('tiny_mask')
    log = train(TINY_MASK, work_dir, train_options(demo_root))
    assert_finite_losses(log, 2)
    return work_dir, log


def test_tiny_faster_rcnn_fdconv_trains_and_tests(demo_root, tmp_path):
    log = train(TINY_FASTER, tmp_path, train_options(demo_root))
    assert_finite_losses(log, 2)
    log = mmrun.test(TINY_FASTER, tmp_path / 'iter_2.pth', tmp_path,
                     data_options('mmdet', demo_root))
    bbox = metric('mmdet', log)
    print(f'tiny Faster R-CNN FDConv after 2 iterations: bbox mAP {bbox}')
    assert 0 <= bbox <= 1


def test_tiny_mask_rcnn_fdconv_release_checkpoint_converts_and_tests(tiny_mask_run, demo_root,
                                                                     capsys):
    """The trained tiny model is saved in the mmdet 2.x / mmcv 1.x release layout, converted with
    tools/convert_release_checkpoint.py (checked against the config) and evaluated with the stock
    test tool: bbox and segm AP are reported."""
    work_dir, log = tiny_mask_run
    assert 'AMP -> fp32' in log  # the release recipe's fp16 wrapper, adapted on CPU
    trained = torch.load(work_dir / 'iter_2.pth', map_location='cpu')
    release = dict(
        meta=dict(mmdet_version='2.28.2', mmcv_version='1.7.1', epoch=12, iter=2,
                  CLASSES=trained['meta']['dataset_meta']['classes'], config='...',
                  hook_msgs=dict(last_ckpt='epoch_12.pth')),
        state_dict=OrderedDict(trained['state_dict']),
        optimizer=dict(state={}, param_groups=[dict(lr=1e-4, params=[])]))
    torch.save(release, work_dir / 'release.pth')
    status = convert_tool().main([str(work_dir / 'release.pth'), str(work_dir / 'converted.pth'),
                                  '--config', str(TINY_MASK)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert 'missing: 0' in out and 'unexpected: 0' in out and 'shape_mismatch: 0' in out
    converted = torch.load(work_dir / 'converted.pth', map_location='cpu', weights_only=True)
    assert set(converted) == {'meta', 'state_dict'}
    for key, value in trained['state_dict'].items():
        assert torch.equal(converted['state_dict'][key], value), key
    log = mmrun.test(TINY_MASK, work_dir / 'converted.pth', work_dir,
                     data_options('mmdet', demo_root))
    bbox = metric('mmdet', log)
    segm = float(re.findall(r'coco/segm_mAP: ([-\d.]+)', log)[-1])
    print(f'tiny Mask R-CNN FDConv after 2 iterations: bbox mAP {bbox}, segm mAP {segm}')
    assert 0 <= bbox <= 1 and 0 <= segm <= 1


def test_convert_release_tool_refuses_a_mismatching_checkpoint(tiny_mask_run, capsys):
    work_dir, _ = tiny_mask_run
    trained = torch.load(work_dir / 'iter_2.pth', map_location='cpu')
    state = OrderedDict(trained['state_dict'])
    state.pop('backbone.layer2.0.conv2.dft_weight')
    torch.save(dict(state_dict=state), work_dir / 'broken.pth')
    status = convert_tool().main([str(work_dir / 'broken.pth'), str(work_dir / 'broken_out.pth'),
                        '--config', str(TINY_MASK)])
    out = capsys.readouterr().out
    assert status == 2
    assert 'backbone.layer2.0.conv2.dft_weight' in out
    assert not (work_dir / 'broken_out.pth').exists()
