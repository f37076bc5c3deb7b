"""ResNet with FDConv for mmdet and mmseg and the 'FDConv' conv layer type."""
import math

import pytest
import torch
from torch import nn

import mmfreq  # noqa: F401  (registrations)
from mmcv.cnn import build_conv_layer
from mmengine.registry import DefaultScope
from mmfreq.layers import FDConv
from mmfreq.layers.fdconv_conversion import convert_state_dict_to_fdconv
from mmfreq.layers.kernel_spatial_modulation import local_conv_kernel_size
from mmfreq.models.resnet_fdconv import ResNetFDConv, ResNetV1cFDConv, SegResNetFDConv
from mmdet.registry import MODELS as MMDET_MODELS
from mmseg.registry import MODELS as MMSEG_MODELS
from mmrun import num_params

PAPER_DELTA = 3.6e6  # FDConv paper, Table 1: ResNet-50 + FDConv, +3.6M parameters
SMALL = dict(depth=50, base_channels=20, conv_cfg=dict(type='FDConv', kernel_num=8))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def fdconv_extra_params(in_ch, out_ch, k, kernel_num):
    """Parameters an FDConv adds over the plain conv (no bias), from the release's layout."""
    att = max(int(in_ch * 0.0625), 16)
    dft = out_ch * k * (in_ch * k // 2 + 1) * 2 - out_ch * in_ch * k * k
    ksm_global = (att * in_ch + 2 * att + 2 + (att + 1) * in_ch + (att + 1) * out_ch
                  + ((att + 1) * k * k if k > 1 else 0) + (att + 1) * kernel_num)
    ksm_local = 2 * in_ch + out_ch * k * k * local_conv_kernel_size(in_ch)
    fbm = 3 * (in_ch * 9 + 1) if k == 3 else 0
    return dft + ksm_global + ksm_local + fbm


def resnet50_bottleneck_convs():
    convs, in_ch = [], 64
    for planes, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for _ in range(blocks):
            convs += [(in_ch, planes, 1), (planes, planes, 3), (planes, 4 * planes, 1)]
            in_ch = 4 * planes
    return convs


def test_conv_layer_type_is_registered_in_every_scope():
    layer = build_conv_layer(dict(type='FDConv', kernel_num=64), 64, 64, 3, padding=1)
    assert isinstance(layer, FDConv) and layer.is_fdconv and layer.kernel_num == 64
    for scope in ('mmdet', 'mmseg', 'mmrotate'):
        with DefaultScope.overwrite_default_scope(scope):
            layer = build_conv_layer(dict(type='FDConv', kernel_num=64), 64, 64, 3, padding=1)
            assert isinstance(layer, FDConv)
    with pytest.raises(ValueError, match='ksm_local_act'):
        build_conv_layer(dict(type='FDConv', ksm_local_act='relu'), 64, 64, 3)


def test_resnet50_parameter_delta():
    fd = MMDET_MODELS.build(dict(type='ResNetFDConv', depth=50,
                                 conv_cfg=dict(type='FDConv', kernel_num=64)))
    plain = MMDET_MODELS.build(dict(type='ResNet', depth=50))
    delta = num_params(fd) - num_params(plain)
    expected = sum(fdconv_extra_params(i, o, k, 64) for i, o, k in resnet50_bottleneck_convs())
    print(f'\nResNet-50 params: plain {num_params(plain):,}, FDConv (kernel_num=64) '
          f'{num_params(fd):,}, delta +{delta:,} (paper: +3.6M)')
    assert delta == expected
    assert abs(delta - PAPER_DELTA) < 0.05e6


def test_block_convs_are_fdconv_stem_and_downsample_plain():
    det = ResNetFDConv(**SMALL)
    seg = ResNetV1cFDConv(**SMALL)
    for model in (det, seg):
        stem = [m for n, m in model.named_modules() if n.startswith(('stem', 'conv1'))
                and isinstance(m, nn.Conv2d)]
        assert stem and all(type(m) is nn.Conv2d for m in stem)
        for name, module in model.named_modules():
            if '.downsample.' in f'{name}.' and isinstance(module, nn.Conv2d):
                assert type(module) is nn.Conv2d, name
        for layer_name in model.res_layers:
            for block in getattr(model, layer_name):
                for conv_name in ('conv1', 'conv2', 'conv3'):
                    conv = getattr(block, conv_name)
                    assert isinstance(conv, FDConv), (layer_name, conv_name)
                    assert conv.is_fdconv == (min(conv.in_channels, conv.out_channels) > 16)
    assert seg.deep_stem and not det.deep_stem
    assert det.layer2[0].conv2.stride == (2, 2) and det.layer2[0].conv2.is_fdconv


def test_forward_backward_and_pretrained_layout():
    model = ResNetFDConv(**SMALL, out_indices=(0, 1, 2, 3))
    model.init_weights()
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    outs = model(x)
    assert [tuple(o.shape) for o in outs] == [(2, 80, 16, 16), (2, 160, 8, 8), (2, 320, 4, 4),
                                             (2, 640, 2, 2)]
    sum(o.square().mean() for o in outs).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    # init_weights (stock Kaiming for Conv2d) leaves the KSM/FBM heads with their spec init
    conv2 = model.layer3[0].conv2
    assert conv2.KSM_Global.channel_fc.weight.abs().max() < 1e-4
    assert conv2.FBM.freq_weight_conv_list[0].weight.abs().max() < 1e-4
    # a plain ResNet checkpoint, converted, loads with only KSM/FBM parameters missing
    plain = MMDET_MODELS.build(dict(type='ResNet', depth=50, base_channels=20))
    state, names = convert_state_dict_to_fdconv(plain.state_dict(), 'resnet')
    assert len(names) == 3 * 16
    result = model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys
    assert result.missing_keys and all(('KSM_' in k or 'FBM.' in k) for k in result.missing_keys)


@pytest.mark.parametrize('build', [lambda **kw: ResNetFDConv(**SMALL, **kw),
                                   lambda **kw: ResNetV1cFDConv(**SMALL, **kw)])
def test_frozen_stages_keep_ksm_and_fbm_trainable(build):
    model = build(frozen_stages=1, need_grad_list=['KSM', 'FBM'])
    for mode in (None, True, False):
        if mode is not None:
            model.train(mode)
        for name, param in model.layer1.named_parameters():
            assert param.requires_grad == ('KSM' in name or 'FBM' in name), name
        for name, param in model.layer2.named_parameters():
            assert param.requires_grad, name
        stem = model.stem if model.deep_stem else model.conv1
        assert not any(p.requires_grad for p in stem.parameters())
    assert any('FBM' in n and p.requires_grad for n, p in model.layer1.named_parameters())
    frozen_all = build(frozen_stages=1, need_grad_list=[])
    assert not any(p.requires_grad for p in frozen_all.layer1.parameters())


def test_registered_names():
    assert MMDET_MODELS.get('ResNetFDConv') is ResNetFDConv
    assert MMDET_MODELS.get('ResNet_FDConv') is ResNetFDConv
    assert MMSEG_MODELS.get('ResNetV1cFDConv') is ResNetV1cFDConv
    assert MMSEG_MODELS.get('ResNet_FDConv') is ResNetV1cFDConv
    assert MMSEG_MODELS.get('ResNetFDConv') is SegResNetFDConv
    seg = MMSEG_MODELS.build(dict(type='ResNet_FDConv', **SMALL))
    assert seg.deep_stem and hasattr(seg, 'stem')
    seg_plain_stem = MMSEG_MODELS.build(dict(type='ResNet_FDConv', deep_stem=False, **SMALL))
    assert not seg_plain_stem.deep_stem and hasattr(seg_plain_stem, 'conv1')
    det = MMDET_MODELS.build(dict(type='ResNet_FDConv', **SMALL))
    assert isinstance(det, ResNetFDConv) and not det.deep_stem


@pytest.mark.parametrize('kwargs,option', [(dict(conv_cfg='FDConv'), 'conv_cfg'),
                                           (dict(need_grad_list='KSM'), 'need_grad_list')])
def test_invalid_arguments(kwargs, option):
    with pytest.raises(ValueError, match=option):
        ResNetFDConv(depth=50, **kwargs)


def test_dilated_seg_backbone():
    """mmseg's dilated stages (PSP/DeepLab style) go through FDConv's dilation."""
    model = ResNetV1cFDConv(**SMALL, dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1),
                            contract_dilation=True)
    conv = model.layer4[1].conv2
    assert conv.is_fdconv and conv.dilation == (4, 4)
    outs = model(torch.randn(1, 3, 64, 64))
    assert outs[-1].shape[-2:] == (8, 8)
    assert math.isfinite(outs[-1].sum().item())
