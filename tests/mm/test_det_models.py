"""Detection backbones (ConvNeXt with FDLinear MLPs, Swin-T with FDLinear MLPs) and the
mmdet 2.x -> 3.x release checkpoint conversion. Small widths, CPU, no subprocesses."""
import importlib.util
import re
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

import mmfreq  # noqa: F401  (registrations)
from mmfreq.layers import FDLinear
from mmfreq.layers.fdconv_conversion import convert_state_dict_to_fdconv, restore_dense_weight
from mmfreq.models.checkpoint_conversion import (compare_with_model, convert_release_checkpoint,
                                                 convert_release_state_dict, extract_state_dict)
from mmfreq.models.convnext import ConvNeXt
from mmdet.models.backbones import SwinTransformer
from mmdet.models.backbones.swin import swin_converter
from mmdet.registry import MODELS

TINY = dict(arch=None, depths=(1, 1, 2, 1), dims=(24, 32, 48, 64))
FD = dict(kernel_num=8)
SWIN_TINY = dict(embed_dims=24, depths=(1, 1, 2, 1), num_heads=(1, 2, 2, 4), window_size=2,
                 qkv_bias=True)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def official_convnext_shapes(depths, dims, in_channels=3, classes=1000) -> dict:
    """Names and shapes of an official ConvNeXt ImageNet checkpoint (paper / official release
    layout), classifier included."""
    shapes = {'downsample_layers.0.0.weight': (dims[0], in_channels, 4, 4),
              'downsample_layers.0.0.bias': (dims[0],),
              'downsample_layers.0.1.weight': (dims[0],), 'downsample_layers.0.1.bias': (dims[0],)}
    for i in range(1, 4):
        shapes[f'downsample_layers.{i}.0.weight'] = (dims[i - 1],)
        shapes[f'downsample_layers.{i}.0.bias'] = (dims[i - 1],)
        shapes[f'downsample_layers.{i}.1.weight'] = (dims[i], dims[i - 1], 2, 2)
        shapes[f'downsample_layers.{i}.1.bias'] = (dims[i],)
    for i, (depth, d) in enumerate(zip(depths, dims)):
        for j in range(depth):
            p = f'stages.{i}.{j}.'
            shapes.update({p + 'gamma': (d,), p + 'dwconv.weight': (d, 1, 7, 7),
                           p + 'dwconv.bias': (d,), p + 'norm.weight': (d,), p + 'norm.bias': (d,),
                           p + 'pwconv1.weight': (4 * d, d), p + 'pwconv1.bias': (4 * d,),
                           p + 'pwconv2.weight': (d, 4 * d), p + 'pwconv2.bias': (d,)})
    shapes.update({'norm.weight': (dims[3],), 'norm.bias': (dims[3],),
                   'head.weight': (classes, dims[3]), 'head.bias': (classes,)})
    return shapes


def convert_to_fdconv_tool():
    """tools/convert_to_fdconv.py as a module (its ``main(argv)`` is run in-process)."""
    spec = importlib.util.spec_from_file_location(
        'convert_to_fdconv', Path(__file__).resolve().parents[2] / 'tools' / 'convert_to_fdconv.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def random_state(shapes: dict) -> OrderedDict:
    return OrderedDict((k, torch.randn(s)) for k, s in shapes.items())


# ----------------------------------------------------------------------------- ConvNeXt
def test_convnext_names_match_the_official_checkpoint():
    model = ConvNeXt(**TINY)
    official = official_convnext_shapes(TINY['depths'], TINY['dims'])
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    norms = {f'norm{i}.{p}': (TINY['dims'][i],) for i in range(4) for p in ('weight', 'bias')}
    backbone = {k: v for k, v in official.items() if not re.match(r'(norm|head)\.', k)}
    assert own == {**backbone, **norms}
    # the real ConvNeXt-T has the paper's 28M parameters (28.6M with its ImageNet head)
    tiny_t = ConvNeXt(arch='tiny', out_indices=(3,))
    count = sum(p.numel() for p in tiny_t.parameters()) + 768 * 1000 + 1000
    print(f'ConvNeXt-T with ImageNet head: {count / 1e6:.2f}M')
    assert 28.5e6 < count < 28.7e6


def test_convnext_forward_outputs_and_official_checkpoint_loads(tmp_path):
    model = ConvNeXt(**TINY, out_indices=(0, 2, 3), drop_path_rate=0.1)
    outs = model(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 24, 16, 16), (2, 48, 4, 4), (2, 64, 2, 2)]
    official = random_state(official_convnext_shapes(TINY['depths'], TINY['dims']))
    path = tmp_path / 'convnext_official.pth'
    torch.save({'model': official}, path)  # the official container
    loaded = ConvNeXt(**TINY, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    loaded.init_weights()
    state = loaded.state_dict()
    for key, value in official.items():
        if key in state:
            assert torch.equal(state[key], value), key
    report = loaded.load_pretrained_state_dict(official)
    assert report['unexpected'] == []  # the ImageNet head is expected and ignored
    assert sorted(report['missing']) == sorted(f'norm{i}.{p}' for i in range(4)
                                               for p in ('weight', 'bias'))


def test_convnext_block_is_the_paper_block():
    model = ConvNeXt(**TINY, layer_scale_init_value=0.5).eval()
    block = model.stages[1][0]
    x = torch.randn(2, 32, 5, 6)
    y = block.dwconv(x).permute(0, 2, 3, 1)
    y = block.pwconv2(nn.functional.gelu(block.pwconv1(block.norm(y))))
    expected = x + (block.gamma * y).permute(0, 3, 1, 2)
    torch.testing.assert_close(block(x), expected)
    assert torch.equal(block.gamma, torch.full((32,), 0.5))
    assert ConvNeXt(**TINY, layer_scale_init_value=0).stages[0][0].gamma is None
    # drop path: identity in eval, per-sample zeroing in training
    dropped = ConvNeXt(**TINY, drop_path_rate=0.9).stages[3][0]
    assert dropped.drop_path.drop_prob == pytest.approx(0.9)


def test_convnext_fdlinear_mlp_converted_checkpoint_and_training():
    model = ConvNeXt(**TINY, fdlinear_cfg=FD)
    fd_names = sorted(n for n, m in model.named_modules() if isinstance(m, FDLinear))
    assert fd_names == sorted(f'stages.{i}.{j}.pwconv{k}' for i, d in enumerate(TINY['depths'])
                              for j in range(d) for k in (1, 2))
    assert all(model.get_submodule(n).is_fdconv for n in fd_names)
    # an official checkpoint converted by the FDConv converter loads with only KSM keys missing
    official = random_state(official_convnext_shapes(TINY['depths'], TINY['dims']))
    converted, names = convert_state_dict_to_fdconv(official, 'convnext')
    assert sorted(names) == fd_names
    report = model.load_pretrained_state_dict(converted)
    assert report['unexpected'] == []
    assert all('KSM' in k or re.match(r'norm\d\.', k) for k in report['missing'])
    layer = model.stages[2][1].pwconv1
    dense = restore_dense_weight(layer.dft_weight.detach(), 192, 48, 1, linear=True)
    torch.testing.assert_close(dense, official['stages.2.1.pwconv1.weight'], atol=1e-5, rtol=1e-4)
    # dense MLP weights for an FDLinear model: a clear error, not a silent partial load
    with pytest.raises(ValueError, match='convert_to_fdconv'):
        model.load_pretrained_state_dict(official)
    # a training step reaches the FDLinear parameters
    outs = model.train()(torch.randn(2, 3, 64, 64))
    sum(o.square().mean() for o in outs).backward()
    for name in ('dft_weight', 'KSM_Global.kernel_fc.weight', 'KSM_Local.conv.weight'):
        grad = model.get_submodule('stages.1.0.pwconv1').get_parameter(name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_convnext_gradient_checkpointing_and_frozen_stages():
    model = ConvNeXt(**TINY, fdlinear_cfg=FD).eval()
    cp_model = ConvNeXt(**TINY, fdlinear_cfg=FD, with_cp=True).eval()
    cp_model.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    for a, b in zip(model(x), cp_model(x)):
        torch.testing.assert_close(a, b)
    frozen = ConvNeXt(**TINY, fdlinear_cfg=FD, frozen_stages=1, need_grad_list=['KSM'])
    for name, param in frozen.named_parameters():
        in_frozen = re.match(r'(downsample_layers|stages)\.[01]\.', name) is not None
        assert param.requires_grad == (not in_frozen or 'KSM' in name), name
    frozen.train()
    assert not frozen.stages[0].training and frozen.stages[2].training


@pytest.mark.parametrize('kwargs, option', [
    (dict(arch='huge'), 'arch'),
    (dict(arch=None, depths=(1, 1, 1), dims=(8, 8, 8, 8)), 'depths'),
    (dict(arch=None, depths=(1, 1, 1, 1)), 'depths and dims'),
    (dict(out_indices=(4,)), 'out_indices'),
    (dict(drop_path_rate=1.5), 'drop_path_rate'),
    (dict(layer_scale_init_value=-1), 'layer_scale_init_value'),
    (dict(fdlinear_cfg='FDLinear'), 'fdlinear_cfg'),
    (dict(frozen_stages=4), 'frozen_stages'),
    (dict(need_grad_list='KSM'), 'need_grad_list'),
    (dict(fdlinear_cfg=dict(kernel_num=0)), 'kernel_num'),
    (dict(fdlinear_cfg=dict(ksm_local_act='relu')), 'ksm_local_act'),
])
def test_convnext_bad_options_fail_at_build(kwargs, option):
    args = dict(TINY, **kwargs) if 'arch' not in kwargs else kwargs
    with pytest.raises(ValueError, match=option):
        MODELS.build(dict(type='ConvNeXt', **args))


def test_convnext_layer_wise_lr_decay_constructor_recognises_it():
    from mmdet.engine.optimizers import LearningRateDecayOptimizerConstructor
    detector = nn.Module()
    detector.backbone = ConvNeXt(**TINY, fdlinear_cfg=FD)
    constructor = LearningRateDecayOptimizerConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05)),
        dict(decay_rate=0.9, decay_type='layer_wise', num_layers=6))
    wrapper = constructor(detector)
    groups = {n: g for g in wrapper.optimizer.param_groups for n in g['param_names']}
    stem = groups['backbone.downsample_layers.0.0.weight']
    early = groups['backbone.stages.0.0.pwconv1.dft_weight']
    late = groups['backbone.stages.3.0.pwconv1.dft_weight']
    assert stem['lr_scale'] < early['lr_scale'] < late['lr_scale'] < 1
    assert early['weight_decay'] == late['weight_decay'] == 0.05
    assert groups['backbone.stages.3.0.pwconv1.KSM_Global.kernel_fc.bias']['weight_decay'] == 0


# ----------------------------------------------------------------------------- Swin + FDLinear
def test_swin_fdlinear_only_mlp_linears_and_stock_names():
    plain = SwinTransformer(**SWIN_TINY)
    model = MODELS.build(dict(type='SwinTransformerFDConv', fdlinear_cfg=FD, **SWIN_TINY))
    fd = sorted(n for n, m in model.named_modules() if isinstance(m, FDLinear))
    expected = sorted(f'stages.{i}.blocks.{j}.ffn.layers.{k}' for i, d in
                      enumerate(SWIN_TINY['depths']) for j in range(d) for k in ('0.0', '1'))
    assert fd == expected == sorted(model.fdlinear_names)
    plain_keys = set(plain.state_dict())
    own_keys = set(model.state_dict())
    mlp_weights = {f'{n}.weight' for n in fd}
    assert plain_keys - own_keys == mlp_weights
    added = {k for k in own_keys - plain_keys if 'KSM' not in k}
    assert added == {f'{n}.dft_weight' for n in fd}
    outs = model(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 24, 16, 16), (2, 48, 8, 8), (2, 96, 4, 4),
                                             (2, 192, 2, 2)]
    sum(o.mean() for o in outs).backward()
    grad = model.stages[2].blocks[1].ffn.layers[1].dft_weight.grad
    assert grad is not None and torch.isfinite(grad).all()


def test_swin_official_checkpoint_converts_and_loads_through_the_stock_converter(tmp_path):
    """Official Swin MLP weights (``layers.i.blocks.j.mlp.fc1.weight``), converted by
    tools/convert_to_fdconv.py (``--model-type swin``), go through mmdet's swin_converter
    (``convert_weights=True``) to our FDLinear names and load into SwinTransformerFDConv."""
    model = MODELS.build(dict(type='SwinTransformerFDConv', fdlinear_cfg=FD, **SWIN_TINY))
    official = OrderedDict()
    for name in model.fdlinear_names:  # the official layout of the MLP linears
        i, j, k = re.match(r'stages\.(\d+)\.blocks\.(\d+)\.ffn\.layers\.(0\.0|1)$', name).groups()
        layer = model.get_submodule(name)
        prefix = f'layers.{i}.blocks.{j}.mlp.{"fc1" if k == "0.0" else "fc2"}.'
        official[prefix + 'weight'] = torch.randn(layer.out_features, layer.in_features)
        official[prefix + 'bias'] = torch.randn(layer.out_features)
    src, dst = tmp_path / 'swin_official.pth', tmp_path / 'swin_fdconv.pth'
    torch.save({'model': official}, src)
    assert convert_to_fdconv_tool().main(['--model-type', 'swin', str(src), str(dst)]) == 0
    converted = torch.load(dst, weights_only=True)['model']
    mapped = swin_converter(converted)
    assert set(k[len('backbone.'):] for k in mapped) <= set(model.state_dict())
    loaded = MODELS.build(dict(type='SwinTransformerFDConv', fdlinear_cfg=FD, **SWIN_TINY,
                               convert_weights=True,
                               init_cfg=dict(type='Pretrained', checkpoint=str(dst))))
    loaded.init_weights()
    layer = loaded.stages[1].blocks[0].ffn.layers[1]
    assert torch.equal(layer.dft_weight, converted['layers.1.blocks.0.mlp.fc2.dft_weight'])
    dense = restore_dense_weight(layer.dft_weight.detach(), 48, 192, 1, linear=True)
    torch.testing.assert_close(dense, official['layers.1.blocks.0.mlp.fc2.weight'],
                               atol=1e-5, rtol=1e-4)


def test_convnext_official_checkpoint_through_convert_to_fdconv_tool(tmp_path):
    official = random_state(official_convnext_shapes(TINY['depths'], TINY['dims']))
    src, dst = tmp_path / 'convnext_official.pth', tmp_path / 'convnext_fdconv.pth'
    torch.save({'model': official}, src)
    assert convert_to_fdconv_tool().main(['--model-type', 'convnext', str(src), str(dst)]) == 0
    model = ConvNeXt(**TINY, fdlinear_cfg=FD,
                     init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    model.init_weights()
    converted = torch.load(dst, weights_only=True)['model']
    state = model.state_dict()
    assert torch.equal(state['stages.3.0.pwconv2.dft_weight'],
                       converted['stages.3.0.pwconv2.dft_weight'])
    assert torch.equal(state['stages.3.0.dwconv.weight'], official['stages.3.0.dwconv.weight'])


def test_swin_fdlinear_bad_options_fail_at_build():
    with pytest.raises(ValueError, match='fdlinear_cfg'):
        MODELS.build(dict(type='SwinTransformerFDConv', fdlinear_cfg=[64], **SWIN_TINY))
    with pytest.raises(ValueError, match='kernel_num'):
        MODELS.build(dict(type='SwinTransformerFDConv', fdlinear_cfg=dict(kernel_num=-1),
                          **SWIN_TINY))
    with pytest.raises(ValueError, match='use_fbm_if_k_in'):
        MODELS.build(dict(type='SwinTransformerFDConv', fdlinear_cfg=dict(use_fbm_if_k_in=[1]),
                          **SWIN_TINY))


# ----------------------------------------------------------------------------- release checkpoints
def _release_checkpoint(state_dict, half=False, ddp=False) -> dict:
    """An mmcv 1.x / mmdet 2.x checkpoint as ``mmcv.runner.save_checkpoint`` wrote it."""
    prefix = 'module.' if ddp else ''
    weights = OrderedDict((prefix + k, v.half() if half and v.is_floating_point() else v.clone())
                          for k, v in state_dict.items())
    classes = ('person', 'bicycle', 'car')
    return dict(
        meta=dict(mmdet_version='2.28.2', mmcv_version='1.7.1', CLASSES=classes, epoch=12,
                  iter=87960, config='model = dict(type="MaskRCNN")',
                  env_info='sys.platform: linux',
                  seed=0, exp_name='mask_rcnn_r50_fdconv.py', time='Thu Oct 10 10:10:10 2024',
                  hook_msgs=dict(last_ckpt='work_dirs/epoch_12.pth')),
        state_dict=weights,
        optimizer=dict(state={0: dict(step=10, exp_avg=torch.zeros(3))},
                       param_groups=[dict(lr=1e-4, weight_decay=0.05, params=[0])]))


def test_extract_state_dict_containers():
    weights = OrderedDict(a=torch.ones(1), b=torch.zeros(2))
    for container in (weights, {'state_dict': weights}, {'model': weights},
                      {'state_dict': OrderedDict(('module.' + k, v) for k, v in weights.items())}):
        assert list(extract_state_dict(container)) == ['a', 'b']
    with pytest.raises(ValueError, match='no tensors'):
        extract_state_dict({'meta': {}})


@pytest.mark.parametrize('half, ddp', [(False, False), (True, True)])
def test_release_checkpoint_converts_and_loads_strictly(tmp_path, half, ddp):
    model = ConvNeXt(**TINY, fdlinear_cfg=FD)  # any model with FD layers: names carry over as-is
    reference = model.state_dict()
    release = _release_checkpoint(reference, half=half, ddp=ddp)
    converted = convert_release_checkpoint(release, source='release.pth')
    assert set(converted) == {'meta', 'state_dict'}  # no mmcv 1.x optimizer state
    meta = converted['meta']
    assert meta['dataset_meta']['classes'] == ('person', 'bicycle', 'car')
    assert meta['source_mmdet_version'] == '2.28.2' and meta['converted_from'] == 'release.pth'
    path = tmp_path / 'converted.pth'
    torch.save(converted, path)
    reloaded = torch.load(path, map_location='cpu', weights_only=True)  # what the stock tools do
    fresh = ConvNeXt(**TINY, fdlinear_cfg=FD)
    fresh.load_state_dict(reloaded['state_dict'], strict=True)
    assert compare_with_model(reloaded['state_dict'], fresh) == dict(
        missing=[], unexpected=[], shape_mismatch=[])
    for key, value in fresh.state_dict().items():
        assert value.dtype == reference[key].dtype
        tol = dict(atol=1e-3, rtol=1e-3) if half else dict(atol=0, rtol=0)
        torch.testing.assert_close(value, reference[key], **tol)


def test_release_conversion_renames_drops_and_reports():
    weights = OrderedDict([('backbone.old.weight', torch.ones(2)), ('cached_mask', torch.ones(1)),
                           ('neck.x', torch.ones(3))])
    out = convert_release_state_dict(weights, renames=[(r'\.old\.', '.new.')],
                                     drop=[r'^cached_'])
    assert list(out) == ['backbone.new.weight', 'neck.x']
    with pytest.raises(ValueError, match='two keys'):
        convert_release_state_dict(weights, renames=[(r'^.*$', 'same')])
    model = nn.Linear(2, 3)
    report = compare_with_model(OrderedDict(weight=torch.ones(3, 3), extra=torch.ones(1)), model)
    assert report == dict(missing=['bias'], unexpected=['extra'],
                          shape_mismatch=[('weight', (3, 3), (3, 2))])
