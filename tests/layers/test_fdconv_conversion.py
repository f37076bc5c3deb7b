"""Pretrained conversion to the FDConv layout: key matching per model type, state-dict / checkpoint
round trips on small synthetic checkpoints, module conversion, and tools/convert_to_fdconv.py."""
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from mmfreq.layers import FDConv, FDLinear
from mmfreq.layers.fdconv_conversion import (convert_checkpoint_to_fdconv,
                                             convert_modules_to_fdconv_,
                                             convert_state_dict_to_fdconv, fdconv_key_matcher,
                                             restore_dense_weight)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize('model_type,name,expected', [
    ('resnet', 'layer1.0.conv1', True),  # torchvision layout
    ('resnet', 'layer4.2.conv3', True),
    ('resnet', 'backbone.layer3.5.conv2', True),  # mmdet / mmseg detector checkpoint
    ('resnet', 'module.layer2.0.conv2', True),
    ('resnet', 'conv1', False),  # stem
    ('resnet', 'stem.3', False),  # deep stem (V1c)
    ('resnet', 'layer1.0.downsample.0', False),
    ('resnet', 'fc', False),
    ('vit', 'blocks.11.mlp.fc1', True),  # official ViT / DeiT (timm)
    ('vit', 'blocks.0.mlp.fc2', True),
    ('vit', 'layers.3.ffn.layers.0.0', True),  # mmseg / mmpretrain ViT
    ('vit', 'layers.3.ffn.layers.1', True),
    ('vit', 'blocks.0.attn.qkv', False),
    ('vit', 'blocks.0.attn.proj', False),
    ('vit', 'head', False),
    ('swin', 'layers.0.blocks.1.mlp.fc1', True),  # official Swin
    ('swin', 'layers.2.blocks.5.mlp.fc2', True),
    ('swin', 'backbone.stages.0.blocks.1.ffn.layers.0.0', True),  # mmdet SwinTransformer
    ('swin', 'stages.3.blocks.1.ffn.layers.1', True),
    ('swin', 'layers.0.blocks.1.attn.qkv', False),
    ('swin', 'layers.0.downsample.reduction', False),
    ('convnext', 'stages.0.0.pwconv1', True),  # official ConvNeXt
    ('convnext', 'stages.3.2.pwconv2', True),
    ('convnext', 'backbone.stages.1.0.pointwise_conv1', True),  # mmpretrain ConvNeXt
    ('convnext', 'stages.2.blocks.4.mlp.fc2', True),  # timm
    ('convnext', 'stages.0.0.dwconv', False),
    ('convnext', 'downsample_layers.1.1', False),
])
def test_key_matching(model_type, name, expected):
    assert fdconv_key_matcher(model_type)(name) is expected


def test_unknown_model_type():
    with pytest.raises(ValueError, match='model_type'):
        fdconv_key_matcher('resnext')


def torchvision_like_resnet_state_dict(width=24):
    """A small ResNet state dict in torchvision's key layout (two bottleneck blocks)."""
    sd = OrderedDict()
    sd['conv1.weight'] = torch.randn(width, 3, 7, 7)
    sd['bn1.weight'] = torch.ones(width)
    for block, in_ch in ((0, width), (1, 4 * width)):
        prefix = f'layer1.{block}'
        sd[f'{prefix}.conv1.weight'] = torch.randn(width, in_ch, 1, 1)
        sd[f'{prefix}.bn1.weight'] = torch.ones(width)
        sd[f'{prefix}.conv2.weight'] = torch.randn(width, width, 3, 3)
        sd[f'{prefix}.conv3.weight'] = torch.randn(4 * width, width, 1, 1)
    sd['layer1.0.downsample.0.weight'] = torch.randn(4 * width, width, 1, 1)
    sd['layer1.0.downsample.1.running_mean'] = torch.zeros(4 * width)
    sd['fc.weight'] = torch.randn(10, 4 * width)
    return sd


def test_resnet_state_dict_round_trip():
    sd = torchvision_like_resnet_state_dict()
    converted, names = convert_state_dict_to_fdconv(sd, 'resnet')
    assert names == [f'layer1.{b}.conv{i}' for b in (0, 1) for i in (1, 2, 3)]
    for name in names:
        assert f'{name}.weight' not in converted
        weight = sd[f'{name}.weight']
        out_ch, in_ch, k, _ = weight.shape
        dft = converted[f'{name}.dft_weight']
        assert dft.shape == (1, out_ch * k, in_ch * k // 2 + 1, 2)
        torch.testing.assert_close(restore_dense_weight(dft, out_ch, in_ch, k), weight,
                                   rtol=0, atol=1e-5 * weight.abs().max().item())
    for key in ('conv1.weight', 'layer1.0.downsample.0.weight', 'fc.weight', 'bn1.weight'):
        assert converted[key] is sd[key]  # untouched
    assert list(converted)[:2] == ['conv1.weight', 'bn1.weight']  # order kept


def test_fallback_rule_applies_to_checkpoints():
    sd = {'layer1.0.conv1.weight': torch.randn(16, 64, 1, 1),  # min = 16: stays plain
          'layer1.0.conv2.weight': torch.randn(32, 32, 5, 5),  # k = 5: stays plain
          'layer1.0.conv3.weight': torch.randn(64, 32, 1, 1)}
    converted, names = convert_state_dict_to_fdconv(sd, 'resnet')
    assert names == ['layer1.0.conv3']
    converted, names = convert_state_dict_to_fdconv(sd, 'resnet', use_fdconv_if_c_gt=8,
                                                    use_fdconv_if_k_in=[1, 3, 5], param_ratio=2)
    assert names == ['layer1.0.conv1', 'layer1.0.conv2', 'layer1.0.conv3']
    assert converted['layer1.0.conv2.dft_weight'].shape == (2, 160, 81, 2)


def test_converted_state_dict_loads_into_fdconv_modules():
    """A plain model's state dict, converted, loads into the same model with FDConv/FDLinear layers:
    only the new KSM/FBM parameters are missing, and the dense weights come back."""
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = nn.Module()
            self.mlp.fc1 = nn.Linear(32, 96)
            self.mlp.fc2 = nn.Linear(96, 32)
            self.norm = nn.LayerNorm(32)

    plain = nn.Module()
    plain.blocks = nn.ModuleList(Block() for _ in range(2))
    converted_model = nn.Module()
    converted_model.blocks = nn.ModuleList(Block() for _ in range(2))
    replaced = convert_modules_to_fdconv_(converted_model, 'swin', kernel_num=8)
    assert replaced == [f'blocks.{i}.mlp.fc{j}' for i in (0, 1) for j in (1, 2)]
    assert all(isinstance(converted_model.get_submodule(n), FDLinear) for n in replaced)
    state, names = convert_state_dict_to_fdconv(plain.state_dict(), 'swin')
    assert names == replaced
    result = converted_model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys
    assert result.missing_keys and all('KSM_' in key for key in result.missing_keys)
    layer = converted_model.blocks[1].mlp.fc2
    torch.testing.assert_close(restore_dense_weight(layer.dft_weight.detach(), 32, 96, 1,
                                                    linear=True), plain.blocks[1].mlp.fc2.weight,
                               rtol=0, atol=1e-5)


def test_module_conversion_keeps_weights_and_skips_other_layers():
    model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.Conv2d(32, 48, 3, padding=1),
                          nn.Conv2d(48, 48, 5, padding=2))
    replaced = convert_modules_to_fdconv_(model, lambda name: True, kernel_num=4)
    assert replaced == ['0', '1', '2']
    assert not model[0].is_fdconv and model[1].is_fdconv and not model[2].is_fdconv
    assert all(isinstance(m, FDConv) for m in model)


def test_checkpoint_containers(tmp_path):
    sd = torchvision_like_resnet_state_dict()
    for wrap in (lambda s: s, lambda s: {'state_dict': s, 'meta': {'epoch': 3}},
                 lambda s: {'model': s}):
        converted, names = convert_checkpoint_to_fdconv(wrap(sd), 'resnet')
        assert len(names) == 6
        inner = converted.get('state_dict', converted.get('model', converted))
        assert 'layer1.0.conv2.dft_weight' in inner
        if 'meta' in converted:
            assert converted['meta'] == {'epoch': 3}
    with pytest.raises(ValueError, match='state dict'):
        convert_checkpoint_to_fdconv({'meta': {}}, 'resnet')


def test_tool_converts_a_torchvision_layout_checkpoint(tmp_path):
    sd = torchvision_like_resnet_state_dict()
    src, dst = tmp_path / 'resnet.pth', tmp_path / 'resnet_fdconv.pth'
    torch.save(sd, src)
    run = subprocess.run([sys.executable, str(ROOT / 'tools' / 'convert_to_fdconv.py'),
                          '--model-type', 'resnet', str(src), str(dst)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    out = torch.load(dst, map_location='cpu')
    assert sorted(k for k in out if k.endswith('dft_weight')) == sorted(
        f'layer1.{b}.conv{i}.dft_weight' for b in (0, 1) for i in (1, 2, 3))
    run = subprocess.run([sys.executable, str(ROOT / 'tools' / 'convert_to_fdconv.py'),
                          '--model-type', 'convnext', str(src), str(dst)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2 and 'nothing written' in run.stderr
