"""COCO detection configs with FDConv: every config builds, the R50-FDConv parameter delta
against the paper (+3.6M), the FDConv release's training recipes item by item, pretrained
conversion, tiny Faster / Mask R-CNN FDConv runs of the stock train / test tools on demo COCO data,
and the authors' released detector checkpoints end to end: a state dict in the release's layout
and container, converted by tools/convert_release_checkpoint.py, loaded strictly into the
full-width configs' models and evaluated by the stock test tool.
"""
import copy
import importlib.util
import math
import pickle
import re
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch
import mmrun
from mmrun import (CONFIGS, REPO, assert_finite_losses, data_options, metric, num_params,
                   short_schedule, train)

import mmfreq  # noqa: F401  (registrations)
from mmdet.datasets import CocoDataset
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint as mm_load_checkpoint
from mmengine.structures import InstanceData
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


# The FDConv release's detection recipes (its Faster / Mask R-CNN configs merged with their mmdet
# 2.x _base_ chain), as exact expectations. Mask R-CNN: no weight decay on parameters whose name
# contains 'norm' (mmcv's custom_keys rule; the ResNet BatchNorms are named bn*).
RELEASE_RECIPE = dict(
    faster=dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
                fp16=False, milestones=[8, 11], images_per_gpu=8, workers_per_gpu=8,
                with_cp=True, train_pad=64, test_pad=64, no_decay_key=None),
    mask=dict(optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
              fp16=True, milestones=[10, 11], images_per_gpu=4, workers_per_gpu=8,
              with_cp=False, train_pad=64, test_pad=32, no_decay_key='norm'))


def padded_batch(preprocessor, training, sizes=((100, 150), (120, 90))):
    """Run a data preprocessor on uint8 images of ``sizes``; (inputs, per-image pad_shape)."""
    samples = [DetDataSample(metainfo=dict(img_shape=(h, w)), gt_instances=InstanceData(
        bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long),
        masks=BitmapMasks(np.zeros((0, h, w), np.uint8), h, w))) for h, w in sizes]
    data = dict(inputs=[torch.randint(0, 256, (3, h, w), dtype=torch.uint8) for h, w in sizes],
                data_samples=samples)
    out = preprocessor(data, training)
    return out['inputs'], [s.pad_shape for s in out['data_samples']]


def ceil_to(size, multiple):
    return tuple(-(-x // multiple) * multiple for x in size)


@pytest.mark.parametrize('detector', sorted(RELEASE_RECIPE))
def test_r50_fdconv_release_recipe(detector):
    recipe = RELEASE_RECIPE[detector]
    cfg, model = build(R50_PAIRS[detector][1])
    backbone = model.backbone
    names = set(dynamic_layers(backbone, FDConv))
    expected = {f'layer{i}.{j}.conv{k}' for i, blocks in enumerate((3, 4, 6, 3), start=1)
                for j in range(blocks) for k in (1, 2, 3)}
    assert names == expected  # every bottleneck conv; stem and downsample stay plain
    assert not isinstance(backbone.conv1, FDConv) or not backbone.conv1.is_fdconv
    for name, layer in dynamic_layers(backbone, FDConv).items():
        assert (layer.FBM is not None) == name.endswith('conv2'), name  # FBM on the 3x3 convs
        assert layer.FBM is None or list(layer.FBM.k_list) == [2, 4, 8]
        assert layer.KSM_Local is not None and layer.KSM_Global is not None
    # frozen stem stage (frozen_stages=1): KSM / FBM of layer1 stay trainable (need_grad_list)
    bb = cfg.model.backbone
    assert (bb.frozen_stages, bb.norm_eval, bb.with_cp) == (1, True, recipe['with_cp'])
    for name, param in backbone.named_parameters():
        if name.startswith('layer1.'):
            assert param.requires_grad == ('KSM' in name or 'FBM' in name), name

    optim = cfg.optim_wrapper
    assert (optim.type == 'AmpOptimWrapper') == recipe['fp16']
    assert not recipe['fp16'] or optim.loss_scale == 'dynamic'
    assert {k: v for k, v in optim.optimizer.items() if k != '_scope_'} == recipe['optimizer']
    assert optim.get('clip_grad') is None
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.end, warmup.by_epoch) == (
        'LinearLR', 0.001, 500, False)
    assert (steps.type, steps.milestones, steps.gamma) == ('MultiStepLR', recipe['milestones'], 0.1)
    assert cfg.train_cfg.max_epochs == 12 and cfg.train_cfg.val_interval == 1
    assert cfg.train_dataloader.batch_size == recipe['images_per_gpu']
    assert cfg.train_dataloader.num_workers == recipe['workers_per_gpu']
    assert cfg.test_dataloader.batch_size == 1
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=16)

    # weight decay per parameter, from the optimizer the recipe builds
    cpu_cfg = copy.deepcopy(cfg)
    adapt_config_for_cpu(cpu_cfg)
    groups = build_optim_wrapper(model, cpu_cfg.optim_wrapper).optimizer.param_groups
    decay = {id(p): g['weight_decay'] for g in groups for p in g['params']}
    key, base = recipe['no_decay_key'], recipe['optimizer']['weight_decay']
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    for name, param in trainable:
        assert decay[id(param)] == (0 if key and key in name else base), name
    if key:  # KSM_Local's LayerNorm; BatchNorms (bn*, KSM_Global.bn) keep the decay
        assert any(key in n for n, _ in trainable)
        assert decay[id(model.backbone.layer2[0].bn2.weight)] == base
        assert decay[id(model.backbone.layer2[0].conv2.KSM_Global.bn.weight)] == base

    # padding: every image to a multiple of train_pad in training, of test_pad in testing
    preprocessor = model.data_preprocessor
    for training, multiple in ((True, recipe['train_pad']), (False, recipe['test_pad'])):
        inputs, pad_shapes = padded_batch(preprocessor, training)
        assert tuple(inputs.shape[-2:]) == ceil_to((120, 150), multiple)
        assert pad_shapes == [ceil_to((100, 150), multiple), ceil_to((120, 90), multiple)]
        assert torch.all(inputs[0, :, 100:] == 0)  # padded after normalisation, with 0

    if detector == 'mask':  # the plain baseline trains with the same recipe
        plain = load_config(R50_PAIRS['mask'][0])
        for key in ('optim_wrapper', 'param_scheduler', 'train_dataloader', 'test_dataloader',
                    'auto_scale_lr'):
            assert plain[key] == cfg[key], key
        assert plain.model.data_preprocessor == cfg.model.data_preprocessor
        choice = cfg.train_pipeline[3]
        assert choice.type == 'RandomChoice'
        assert [s[0] for s in choice.transforms[0][0].scales] == list(range(480, 801, 32))
        assert [t.type for t in choice.transforms[1]] == [
            'RandomChoiceResize', 'RandomCrop', 'RandomChoiceResize']
        assert (choice.transforms[1][1].crop_size, choice.transforms[1][1].crop_type) == (
            (384, 600), 'absolute_range')


def test_train_pad_data_preprocessor_refuses_a_bad_multiple():
    init_default_scope('mmdet')
    with pytest.raises(ValueError, match='train_pad_size_divisor'):
        MODELS.build(dict(type='TrainPadDetDataPreprocessor', train_pad_size_divisor=0))


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
    plain = MODELS.build(dict(backbone_cfg, with_cp=False))
    checkpointed = MODELS.build(dict(backbone_cfg, with_cp=True))
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    grads = []
    for model in (plain, checkpointed):
        model.train()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            sum(o.square().mean() for o in model(x)).backward()
        assert not [w for w in caught if 'use_reentrant' in str(w.message)]
        grads.append(model.layer3[0].conv2.dft_weight.grad)
    torch.testing.assert_close(grads[0], grads[1])
    assert type(checkpointed.layer3[0]).__name__.startswith('Checkpointed_')
    assert pickle.loads(pickle.dumps(checkpointed)).layer3[0].with_cp is False
    checkpointed.eval(), plain.eval()
    with torch.no_grad():  # no gradient: the block runs without a checkpoint
        torch.testing.assert_close(checkpointed(x)[-1], plain(x)[-1])


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


def test_tiny_faster_rcnn_fdconv_trains_and_tests(demo_root, tmp_path):
    log = train(TINY_FASTER, tmp_path, train_options(demo_root))
    assert_finite_losses(log, 2)
    log = mmrun.test(TINY_FASTER, tmp_path / 'iter_2.pth', tmp_path,
                     data_options('mmdet', demo_root))
    bbox = metric('mmdet', log)
    print(f'tiny Faster R-CNN FDConv after 2 iterations: bbox mAP {bbox}')
    assert 0 <= bbox <= 1


def test_tiny_mask_rcnn_fdconv_release_recipe_trains_and_tests(demo_root, tmp_path):
    """The tiny Mask R-CNN FDConv config (the release recipe at 128 pixels: multi-scale + crop,
    AdamW, fp16 -> fp32 on CPU, training pad 64) trains 2 iterations; its checkpoint is evaluated
    with the stock test tool: bbox and segm AP are reported."""
    log = train(TINY_MASK, tmp_path, train_options(demo_root))
    assert_finite_losses(log, 2)
    assert 'AMP -> fp32' in log  # the release recipe's fp16 wrapper, adapted on CPU
    log = mmrun.test(TINY_MASK, tmp_path / 'iter_2.pth', tmp_path,
                     data_options('mmdet', demo_root))
    bbox, segm = metric('mmdet', log), segm_metric(log)
    print(f'tiny Mask R-CNN FDConv after 2 iterations: bbox mAP {bbox}, segm mAP {segm}')
    assert 0 <= bbox <= 1 and 0 <= segm <= 1


def segm_metric(log: str) -> float:
    found = re.findall(r'coco/segm_mAP: ([-\d.]+)', log)
    assert found, f'no segm mAP in the test log:\n{log[-4000:]}'
    return float(found[-1])


# ------------------------------------------------------- the authors' released R50-FDConv detectors
# The state dict layout of the release's Faster / Mask R-CNN R50-FDConv checkpoints (mmdet 2.x,
# mmcv 1.x), written out here from the release's module structure:
#
# * ResNet-50 (mmdet, style 'pytorch'): stem conv1 (plain 7x7: 3 input channels are not above
#   use_fdconv_if_c_gt=16) + bn1; layer{1..4}.{j} bottlenecks conv1 (1x1) / conv2 (3x3, stride) /
#   conv3 (1x1), bn1..bn3, downsample.0 (plain 1x1) + downsample.1 in block 0.
# * Every bottleneck conv is an FDConv (in -> out channels, k x k, kernel_num 64, bias=False). It
#   has no spatial ``weight`` (convert_param=True replaces it), but
#   - dft_weight (param_ratio=1, out*k, in*k // 2 + 1, 2): rfft2 of the (out*k, in*k) weight matrix
#     W.permute(0, 2, 1, 3), real and imaginary parts, divided by min(in, out) // 2;
#   - KSM_Global: fc (A, in, 1, 1) without bias, A = max(int(in * 0.0625), 16); bn (A);
#     relu = StarReLU with scale (1,) and bias (1,); with bias, from A channels: channel_fc (in),
#     filter_fc (out), spatial_fc (k*k, only for k > 1), kernel_fc (kernel_num);
#   - KSM_Local: conv (out*k*k, 1, e) without bias, e = the ECA kernel size of ``in``;
#     norm = LayerNorm(in);
#   - FBM (3x3 convs only): freq_weight_conv_list.{0,1,2} = Conv2d(in, 1, 3) with bias, one per
#     entry of k_list [2, 4, 8].
# * mmdet 2.x neck and heads: neck.lateral_convs.{i}.conv / neck.fpn_convs.{i}.conv (ConvModule),
#   rpn_head.rpn_conv / rpn_cls (3 anchors, sigmoid) / rpn_reg, roi_head.bbox_head.shared_fcs.{0,1}
#   / fc_cls (81) / fc_reg (4 x 80), roi_head.mask_head.convs.{0..3}.conv / upsample (deconv) /
#   conv_logits (80).
# The values are random at the scales of a trained network: He-normal conv / linear weights,
# BatchNorm statistics near 0 / 1, small last-BatchNorm scales in the residual branches, and small
# weights on the attention inputs (KSM, FBM) and box regressors, so that activations stay finite.
KERNEL_NUM = 64
COCO_CLASSES = tuple(CocoDataset.METAINFO['classes'])  # mmdet 2.x CocoDataset.CLASSES: the same


def eca_kernel_size(channels: int) -> int:
    """ECA-Net's adaptive 1D kernel size (gamma 2, b 1), as the release computes it."""
    return round(math.log2(channels) / 2 + 0.5) // 2 * 2 + 1


def batch_norm(name, channels, scale='one'):
    return [(f'{name}.weight', (channels,), scale), (f'{name}.bias', (channels,), 'small'),
            (f'{name}.running_mean', (channels,), 'small'),
            (f'{name}.running_var', (channels,), 'var'),
            (f'{name}.num_batches_tracked', (), 'count')]


def conv(name, out_channels, in_channels, k, bias=True, kind='he'):
    return [(f'{name}.weight', (out_channels, in_channels, k, k), kind)] + (
        [(f'{name}.bias', (out_channels,), 'small')] if bias else [])


def linear(name, out_features, in_features, kind='he'):
    return [(f'{name}.weight', (out_features, in_features), kind),
            (f'{name}.bias', (out_features,), 'small')]


def release_fdconv(name, cin, cout, k):
    att = max(int(cin * 0.0625), 16)
    entries = [(f'{name}.dft_weight', (1, cout * k, cin * k // 2 + 1, 2), ('dft', cin, cout, k))]
    entries += conv(f'{name}.KSM_Global.fc', att, cin, 1, bias=False, kind='tiny')
    entries += batch_norm(f'{name}.KSM_Global.bn', att)
    entries += [(f'{name}.KSM_Global.relu.scale', (1,), 'one'),
                (f'{name}.KSM_Global.relu.bias', (1,), 'small')]
    for head, channels in [('channel_fc', cin), ('filter_fc', cout)] + (
            [('spatial_fc', k * k)] if k > 1 else []) + [('kernel_fc', KERNEL_NUM)]:
        entries += conv(f'{name}.KSM_Global.{head}', channels, att, 1)
    entries += [(f'{name}.KSM_Local.conv.weight', (cout * k * k, 1, eca_kernel_size(cin)),
                 'tiny'),
                (f'{name}.KSM_Local.norm.weight', (cin,), 'one'),
                (f'{name}.KSM_Local.norm.bias', (cin,), 'small')]
    if k == 3:
        for i in range(3):
            entries += conv(f'{name}.FBM.freq_weight_conv_list.{i}', 1, cin, 3, kind='tiny')
    return entries


def release_layout(with_mask: bool) -> list:
    """``(key, shape, kind)`` of a release Faster (or Mask) R-CNN R50-FDConv state dict."""
    entries = conv('backbone.conv1', 64, 3, 7, bias=False) + batch_norm('backbone.bn1', 64)
    inplanes = 64
    for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3)), start=1):
        for j in range(blocks):
            block, cin = f'backbone.layer{stage}.{j}', inplanes if j == 0 else planes * 4
            entries += release_fdconv(f'{block}.conv1', cin, planes, 1)
            entries += batch_norm(f'{block}.bn1', planes)
            entries += release_fdconv(f'{block}.conv2', planes, planes, 3)
            entries += batch_norm(f'{block}.bn2', planes)
            entries += release_fdconv(f'{block}.conv3', planes, planes * 4, 1)
            entries += batch_norm(f'{block}.bn3', planes * 4, scale='small')
            if j == 0:
                entries += conv(f'{block}.downsample.0', planes * 4, cin, 1, bias=False)
                entries += batch_norm(f'{block}.downsample.1', planes * 4)
        inplanes = planes * 4
    for i, channels in enumerate((256, 512, 1024, 2048)):
        entries += conv(f'neck.lateral_convs.{i}.conv', 256, channels, 1)
    for i in range(4):
        entries += conv(f'neck.fpn_convs.{i}.conv', 256, 256, 3)
    entries += conv('rpn_head.rpn_conv', 256, 256, 3) + conv('rpn_head.rpn_cls', 3, 256, 1)
    entries += conv('rpn_head.rpn_reg', 12, 256, 1, kind='tiny')
    bbox = 'roi_head.bbox_head'
    entries += linear(f'{bbox}.shared_fcs.0', 1024, 256 * 7 * 7)
    entries += linear(f'{bbox}.shared_fcs.1', 1024, 1024)
    entries += linear(f'{bbox}.fc_cls', 81, 1024)
    entries += linear(f'{bbox}.fc_reg', 4 * 80, 1024, kind='tiny')
    if with_mask:
        for i in range(4):
            entries += conv(f'roi_head.mask_head.convs.{i}.conv', 256, 256, 3)
        entries += conv('roi_head.mask_head.upsample', 256, 256, 2)  # ConvTranspose2d(256, 256)
        entries += conv('roi_head.mask_head.conv_logits', 80, 256, 1)
    return entries


def release_value(kind, shape, generator):
    if kind == 'count':
        return torch.tensor(87960)
    if kind == 'var':
        return torch.rand(shape, generator=generator) + 0.5
    noise = torch.randn(shape, generator=generator)
    if kind == 'one':
        return 1 + 0.1 * noise
    if kind == 'small':
        return 0.1 * noise
    if kind == 'tiny':
        return 1e-3 * noise
    if kind == 'he':
        return noise * (2 / math.prod(shape[1:])) ** 0.5
    _, cin, cout, k = kind  # dft_weight from a He-normal (cout, cin, k, k) weight
    weight = torch.randn(cout, cin, k, k, generator=generator) * (2 / (cin * k * k)) ** 0.5
    spectrum = torch.fft.rfft2(weight.permute(0, 2, 1, 3).reshape(cout * k, cin * k))
    dft = torch.stack([spectrum.real, spectrum.imag], dim=-1)[None] / (min(cin, cout) // 2)
    assert dft.shape == shape
    return dft


def release_state_dict(with_mask: bool, seed: int = 0) -> 'OrderedDict[str, torch.Tensor]':
    generator = torch.Generator().manual_seed(seed)
    return OrderedDict((key, release_value(kind, shape, generator))
                       for key, shape, kind in release_layout(with_mask))


def mmcv1_checkpoint(state_dict, detector: str) -> dict:
    """The container ``mmcv.runner.save_checkpoint`` wrote at the end of the release's mmdet 2.28
    training: run meta (Mask R-CNN trained in fp16: the loss scaler's state) and the optimizer
    state (AdamW / SGD; one entry here to keep the file small)."""
    first = next(iter(state_dict.values()))
    meta = dict(
        env_info='sys.platform: linux\nPython: 3.7.16\nPyTorch: 1.11.0+cu113\nMMCV: 1.5.3',
        config="model = dict(type='MaskRCNN', backbone=dict(type='ResNet_FDConv', ...))",
        seed=1234, exp_name=f'{detector}_rcnn_r50_fpn_1x_coco_FDConv.py',
        mmdet_version='2.28.1', CLASSES=COCO_CLASSES, epoch=12, iter=87960,
        hook_msgs=dict(last_ckpt='work_dirs/epoch_12.pth'), mmcv_version='1.5.3',
        time='Mon Jan 13 10:00:00 2025')
    if detector == 'mask':
        meta['fp16'] = dict(loss_scaler=dict(scale=512.0, growth_factor=2.0, backoff_factor=0.5,
                                             growth_interval=2000, _growth_tracker=1523))
        state = dict(step=87960, exp_avg=torch.zeros_like(first),
                     exp_avg_sq=torch.zeros_like(first))
        group = dict(lr=1e-6, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05, amsgrad=False,
                     maximize=False, initial_lr=1e-4, params=[0])
    else:
        state = dict(momentum_buffer=torch.zeros_like(first))
        group = dict(lr=2e-4, momentum=0.9, dampening=0, weight_decay=1e-4, nesterov=False,
                     maximize=False, initial_lr=0.02, params=[0])
    return dict(meta=meta, state_dict=state_dict,
                optimizer=dict(state={0: state}, param_groups=[group]))


# the demo images at their size (128 pixels) instead of 1333x800, 100 proposals and the 10 best
# boxes per image at any score (random weights), so that the test stays small
SMALL_TEST = ['test_dataloader.dataset.pipeline.1.scale=(128,128)',
              'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
              'model.test_cfg.rpn.nms_pre=200', 'model.test_cfg.rpn.max_per_img=100',
              'model.test_cfg.rcnn.score_thr=0.0', 'model.test_cfg.rcnn.max_per_img=10']


@pytest.mark.parametrize('detector', ['faster', 'mask'])
def test_release_checkpoint_converts_loads_strictly_and_evaluates(detector, demo_root, tmp_path,
                                                                   capsys):
    """A checkpoint in the release's layout and container loads directly (no conversion) through
    mmengine's strict load, and the stock test tool evaluates it on the demo COCO data: the Faster
    R-CNN file as the release wrote it, the Mask R-CNN one after tools/convert_release_checkpoint.py
    (checked against the config), which gives the same weights. The Faster R-CNN file is written as
    mmdet 2's publish_model.py does (no optimizer, legacy serialization)."""
    config = R50_PAIRS[detector][1]
    weights = release_state_dict(with_mask=detector == 'mask')
    release = mmcv1_checkpoint(weights, detector)
    legacy = {}
    if detector == 'faster':
        del release['optimizer']
        legacy = dict(_use_new_zipfile_serialization=False)
    src, dst = tmp_path / 'release.pth', tmp_path / 'converted.pth'
    torch.save(release, src, **legacy)
    # a realistic release file holds only tensors and plain values: weights_only loads it
    assert torch.load(src, map_location='cpu', weights_only=True)['meta']['epoch'] == 12

    status = convert_tool().main([str(src), str(dst), '--config', str(config)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert 'missing: 0' in out and 'unexpected: 0' in out and 'shape_mismatch: 0' in out
    converted = torch.load(dst, map_location='cpu', weights_only=True)
    assert set(converted) == {'meta', 'state_dict'}  # no mmcv 1.x optimizer state
    assert converted['meta']['dataset_meta']['classes'] == COCO_CLASSES
    assert converted['meta']['source_mmdet_version'] == '2.28.1'
    assert list(converted['state_dict']) == list(weights)  # no renames for these detectors
    for key, value in weights.items():
        assert torch.equal(converted['state_dict'][key], value), key
    _, model = build(config)
    model.load_state_dict(converted['state_dict'], strict=True)
    _, direct = build(config)
    mm_load_checkpoint(direct, str(src), map_location='cpu', strict=True)  # the release file
    for key, value in direct.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key

    evaluated = src if detector == 'faster' else dst
    log = mmrun.test(config, evaluated, tmp_path, data_options('mmdet', demo_root) + SMALL_TEST)
    assert 'do not match exactly' not in log  # mmengine's missing / unexpected key warning
    assert 'mmfreq: converted' not in log  # the release layout holds spectra: nothing to convert
    bbox = metric('mmdet', log)
    segm = segm_metric(log) if detector == 'mask' else None
    print(f'{detector} R-CNN R50-FDConv, release layout, random weights: bbox mAP {bbox}, '
          f'segm mAP {segm}')
    assert 0 <= bbox <= 1 and (segm is None or 0 <= segm <= 1)


def test_convert_release_tool_refuses_a_mismatching_checkpoint(tmp_path, capsys):
    """A missing FDConv spectrum and a KSM kernel head of another kernel_num are named; nothing
    is written."""
    weights = release_state_dict(with_mask=False)
    weights.pop('backbone.layer2.0.conv2.dft_weight')
    weights['backbone.layer3.0.conv2.KSM_Global.kernel_fc.bias'] = torch.zeros(4)
    torch.save(mmcv1_checkpoint(weights, 'faster'), tmp_path / 'broken.pth')
    status = convert_tool().main([str(tmp_path / 'broken.pth'), str(tmp_path / 'out.pth'),
                                  '--config', str(R50_PAIRS['faster'][1])])
    out = capsys.readouterr().out
    assert status == 2
    assert 'missing: 1' in out and 'backbone.layer2.0.conv2.dft_weight' in out
    assert 'shape_mismatch: 1' in out and 'layer3.0.conv2.KSM_Global.kernel_fc.bias' in out
    assert not (tmp_path / 'out.pth').exists()
