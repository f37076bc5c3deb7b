"""A plain conv / linear state dict loaded into a dynamic FDConv / FDLinear is converted on load to
``dft_weight``: the same tensors as converting with the tool first, the same outputs, strict
loading still fails on what is truly missing or unexpected, and one warning per load."""
import copy
import logging

import pytest
import torch
from torch import nn

from mmfreq.layers import FDConv, FDLinear
from mmfreq.layers.dense_weight_loading import report_conversions_of
from mmfreq.layers.fdconv_conversion import convert_state_dict_to_fdconv

OPTIONS = dict(kernel_num=8, use_ksm_local=True)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


class Net(nn.Module):
    """Three layers in a ResNet bottleneck's names (``layer1.0.conv{1,2,3}``)."""

    def __init__(self, conv=nn.Conv2d, **options):
        super().__init__()
        block = nn.Module()
        block.conv1 = conv(24, 32, 1, **options)
        block.conv2 = conv(32, 32, 3, padding=1, **options)
        block.conv3 = conv(32, 48, 1, **options)
        self.layer1 = nn.Sequential(block)

    def forward(self, x):
        block = self.layer1[0]
        return block.conv3(block.conv2(block.conv1(x)))


def conversions(caplog):
    return [r.getMessage() for r in caplog.records
            if r.name == 'mmfreq' and 'converted the dense' in r.getMessage()]


@pytest.mark.parametrize('options', [OPTIONS, dict(OPTIONS, param_ratio=2),
                                     dict(OPTIONS, param_reduction=0.5)])
def test_loading_a_plain_state_dict_equals_converting_with_the_tool_first(options, caplog):
    plain = Net().state_dict()
    on_load = Net(FDConv, **options)
    tool_first = copy.deepcopy(on_load)
    result = on_load.load_state_dict(plain, strict=False)
    assert not result.unexpected_keys
    assert result.missing_keys and all(('KSM_' in k or 'FBM.' in k) for k in result.missing_keys)
    tool_options = {k: options[k] for k in ('param_ratio', 'param_reduction') if k in options}
    converted, names = convert_state_dict_to_fdconv(plain, 'resnet', **tool_options)
    assert names == ['layer1.0.conv1', 'layer1.0.conv2', 'layer1.0.conv3']
    tool_first.load_state_dict(converted, strict=False)
    for (key, a), (_, b) in zip(on_load.state_dict().items(), tool_first.state_dict().items()):
        assert torch.equal(a, b), key
    x = torch.randn(2, 24, 12, 12)
    torch.testing.assert_close(on_load(x), tool_first(x), rtol=0, atol=1e-6)


def test_fdlinear_converts_a_linear_and_a_1x1_conv_weight():
    linear = nn.Linear(40, 24)
    for weight in (linear.weight.detach(), linear.weight.detach()[:, :, None, None]):
        layer = FDLinear(40, 24, **OPTIONS)
        layer.load_state_dict({'weight': weight, 'bias': linear.bias.detach()}, strict=False)
        expected, _ = convert_state_dict_to_fdconv({'blocks.0.mlp.fc1.weight': linear.weight},
                                                   'vit')
        assert torch.equal(layer.dft_weight, expected['blocks.0.mlp.fc1.dft_weight'])


def test_strict_loading_still_fails_on_missing_and_unexpected_keys():
    plain = Net().state_dict()
    with pytest.raises(RuntimeError, match=r'Missing key\(s\).*layer1\.0\.conv2\.KSM_Global'):
        Net(FDConv, **OPTIONS).load_state_dict(plain)
    fd = Net(FDConv, **OPTIONS)
    both = dict(fd.state_dict(), **{'layer1.0.conv2.weight': plain['layer1.0.conv2.weight']})
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\).*"layer1\.0\.conv2\.weight"'):
        fd.load_state_dict(both)  # a checkpoint with its own dft_weight: weight is not converted
    fd.load_state_dict(fd.state_dict())  # the FDConv layout itself loads strictly


def test_a_dense_weight_of_the_wrong_shape_is_an_error_naming_it():
    layer = FDConv(32, 32, 3, padding=1, **OPTIONS)
    with pytest.raises(RuntimeError, match=r'size mismatch for weight.*\(32, 16, 3, 3\)'):
        layer.load_state_dict({'weight': torch.randn(32, 16, 3, 3)}, strict=False)


def test_dense_weight_layers_and_fallbacks_keep_their_weight():
    dense = FDConv(32, 32, 3, convert_param=False, **OPTIONS)  # the dense weight is the parameter
    weight = torch.randn(32, 32, 3, 3)
    dense.load_state_dict({'weight': weight}, strict=False)
    assert torch.equal(dense.weight, weight)
    fallback = FDConv(8, 8, 3, **OPTIONS)  # min(in, out) <= 16: the plain conv
    assert not fallback.is_fdconv
    fallback.load_state_dict(nn.Conv2d(8, 8, 3).state_dict())


def test_one_warning_per_load_naming_the_count(caplog):
    caplog.set_level(logging.WARNING, logger='mmfreq')
    plain = Net().state_dict()
    reporting = Net(FDConv, **OPTIONS)
    report_conversions_of(reporting)
    reporting.load_state_dict(plain, strict=False)
    assert len(conversions(caplog)) == 1
    assert 'of 3 FDConv/FDLinear layer(s)' in conversions(caplog)[0]
    assert 'layer1.0.conv1, layer1.0.conv2, layer1.0.conv3' in conversions(caplog)[0]
    caplog.clear()
    reporting.load_state_dict(reporting.state_dict())  # nothing to convert: no warning
    assert conversions(caplog) == []
    layer = FDConv(32, 32, 3, **OPTIONS)  # a layer loaded on its own reports itself
    layer.load_state_dict(nn.Conv2d(32, 32, 3).state_dict(), strict=False)
    assert len(conversions(caplog)) == 1 and 'of 1 FDConv' in conversions(caplog)[0]
