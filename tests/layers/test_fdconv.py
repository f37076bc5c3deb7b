"""Tests of FDConv / FDLinear / KSM / FBM against the maths of docs/fdconv.md and the authors'
release (its behaviour stated here as exact expectations).

Everything runs on the CPU with small layers (the whole file takes well under a minute on one core).
"""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmfreq.layers import FDConv, FDLinear, FrequencyBandModulation
from mmfreq.layers.fdconv_conversion import fdconv_from_conv
from mmfreq.layers.fourier_disjoint import (conv_weight_to_dft_weight, conv_weight_to_matrix,
                                            dft_weight_to_conv_weight, fourier_disjoint_groups,
                                            frequency_order, matrix_to_conv_weight,
                                            rfft2_frequency_norm)
from mmfreq.layers.frequency_band_modulation import low_pass_masks
from mmfreq.layers.kernel_spatial_modulation import local_conv_kernel_size
from torch_capabilities import skip_without_cpu_autocast


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# --------------------------------------------------------------------------------------------
# Release state-dict layout (names and shapes written out here, not taken from our code)
# --------------------------------------------------------------------------------------------

def _ksm_global_keys(in_ch, out_ch, k, n, att, depthwise=False):
    keys = {
        'KSM_Global.fc.weight': (att, in_ch, 1, 1),
        'KSM_Global.bn.weight': (att,), 'KSM_Global.bn.bias': (att,),
        'KSM_Global.bn.running_mean': (att,), 'KSM_Global.bn.running_var': (att,),
        'KSM_Global.bn.num_batches_tracked': (),
        'KSM_Global.relu.scale': (1,), 'KSM_Global.relu.bias': (1,),
        'KSM_Global.channel_fc.weight': (in_ch, att, 1, 1), 'KSM_Global.channel_fc.bias': (in_ch,),
    }
    if not depthwise:
        keys.update({'KSM_Global.filter_fc.weight': (out_ch, att, 1, 1),
                     'KSM_Global.filter_fc.bias': (out_ch,)})
    if k > 1:
        keys.update({'KSM_Global.spatial_fc.weight': (k * k, att, 1, 1),
                     'KSM_Global.spatial_fc.bias': (k * k,)})
    if n > 1:
        keys.update({'KSM_Global.kernel_fc.weight': (n, att, 1, 1),
                     'KSM_Global.kernel_fc.bias': (n,)})
    return keys


RELEASE_LAYOUTS = {
    # FDConv(64, 128, 3, padding=1, kernel_num=64): d1 = 384, d2 = 192 -> 97 columns;
    # att = max(int(64 * 0.0625), 16) = 16; KSM_Local 1-D kernel round(log2(64)/2 + .5)//2*2+1 = 5
    'conv3x3': (dict(cls=FDConv, args=(64, 128, 3), kwargs=dict(padding=1, kernel_num=64)), {
        'bias': (128,),
        'dft_weight': (1, 384, 97, 2),
        **_ksm_global_keys(64, 128, 3, 64, 16),
        'KSM_Local.norm.weight': (64,), 'KSM_Local.norm.bias': (64,),
        'KSM_Local.conv.weight': (128 * 9, 1, 5),
        **{f'FBM.freq_weight_conv_list.{i}.{p}': s for i in range(3)
           for p, s in (('weight', (1, 64, 3, 3)), ('bias', (1,)))},
    }),
    # 1x1, no bias, odd d2 = 33: 17 columns; no spatial_fc (k = 1), no FBM (k not in [3])
    'conv1x1_odd': (dict(cls=FDConv, args=(33, 48, 1), kwargs=dict(bias=False, kernel_num=64)), {
        'dft_weight': (1, 48, 17, 2),
        **_ksm_global_keys(33, 48, 1, 64, 16),
        'KSM_Local.norm.weight': (33,), 'KSM_Local.norm.bias': (33,),
        'KSM_Local.conv.weight': (48, 1, 3),  # log2(33)/2 + .5 = 3.02 -> 3 -> 3
    }),
    # 512 -> 256 1x1: att = max(int(512 * 0.0625), 16) = 32; 1-D kernel: log2(512)/2+.5 = 5 -> 5
    'conv1x1_wide': (dict(cls=FDConv, args=(512, 256, 1), kwargs=dict(kernel_num=64)), {
        'bias': (256,),
        'dft_weight': (1, 256, 257, 2),
        **_ksm_global_keys(512, 256, 1, 64, 32),
        'KSM_Local.norm.weight': (512,), 'KSM_Local.norm.bias': (512,),
        'KSM_Local.conv.weight': (256, 1, 5),
    }),
    # param_ratio 2, kernel_num 4: kernel_fc has 8 outputs; stride 2 with use_fbm_for_stride
    'ratio2': (dict(cls=FDConv, args=(32, 32, 3), kwargs=dict(stride=2, padding=1, param_ratio=2,
                                                                use_fbm_if_k_in=[],
                                                                use_fbm_for_stride=True)), {
        'bias': (32,),
        'dft_weight': (2, 96, 49, 2),
        **_ksm_global_keys(32, 32, 3, 8, 16),
        'KSM_Local.norm.weight': (32,), 'KSM_Local.norm.bias': (32,),
        'KSM_Local.conv.weight': (32 * 9, 1, 3),  # log2(32)/2 + .5 = 3 -> 3
        **{f'FBM.freq_weight_conv_list.{i}.{p}': s for i in range(3)
           for p, s in (('weight', (1, 32, 3, 3)), ('bias', (1,)))},
    }),
    # FDLinear(96, 384): a 1x1 FDConv on tokens; no FBM
    'linear': (dict(cls=FDLinear, args=(96, 384), kwargs=dict(kernel_num=64)), {
        'bias': (384,),
        'dft_weight': (1, 384, 49, 2),
        **_ksm_global_keys(96, 384, 1, 64, 16),
        'KSM_Local.norm.weight': (96,), 'KSM_Local.norm.bias': (96,),
        'KSM_Local.conv.weight': (384, 1, 5),  # log2(96)/2 + .5 = 3.79 -> 4 -> 5
    }),
    # fallback: min(in, out) = 16 <= 16 -> plain conv with its weight
    'fallback': (dict(cls=FDConv, args=(16, 64, 3), kwargs=dict(padding=1, kernel_num=64)), {
        'weight': (64, 16, 3, 3), 'bias': (64,),
    }),
}


@pytest.mark.parametrize('name', sorted(RELEASE_LAYOUTS))
def test_release_state_dict_loads_strictly(name):
    build, layout = RELEASE_LAYOUTS[name]
    module = build['cls'](*build['args'], **build['kwargs'])
    state = {key: (torch.tensor(7) if shape == () else torch.randn(shape))
             for key, shape in layout.items()}
    for key in state:
        if key.endswith('running_var'):
            state[key] = state[key].abs() + 0.5
    module.load_state_dict(state, strict=True)  # raises on any missing or unexpected key
    loaded = module.state_dict()
    assert set(loaded) == set(layout)
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key
    module.eval()
    x = torch.randn(2, build['args'][0], 8, 8) if build['cls'] is FDConv else torch.randn(2, 5, 96)
    assert torch.isfinite(module(x)).all()


def test_ksm_local_matrix_product_is_the_conv1d():
    layer = FDConv(40, 24, 3, padding=1, kernel_num=4)
    local = layer.KSM_Local
    with torch.no_grad():
        local.conv.weight.normal_()
        local.norm.weight.normal_()
    pooled = torch.randn(3, 40)
    expected = local.conv(local.norm(pooled).unsqueeze(1))  # (B, out*k*k, in)
    torch.testing.assert_close(local.logits(pooled), expected, rtol=1e-5, atol=1e-5)
    dense = local(pooled)  # (B, out, in, k, k): conv channel o*k*k + kh*k + kw at input i
    torch.testing.assert_close(dense[1, 5, 7, 2, 1],
                               torch.sigmoid(expected[1, 5 * 9 + 2 * 3 + 1, 7]) * 2.0)


def test_init_weights_restores_the_spec_init():
    layer = FDConv(32, 32, 3, padding=1, kernel_num=8)
    for module in layer.modules():  # what a parent's Kaiming initializer would do
        if isinstance(module, nn.Conv2d) and 'weight' in module._parameters:
            nn.init.kaiming_normal_(module.weight)
    layer.init_weights()
    for head in (layer.KSM_Global.channel_fc, layer.KSM_Global.spatial_fc,
                 layer.KSM_Global.kernel_fc, *layer.FBM.freq_weight_conv_list):
        assert head.weight.abs().max() < 1e-4
    fbm_x = torch.randn(1, 32, 8, 8)
    torch.testing.assert_close(layer.FBM(fbm_x), fbm_x, rtol=0, atol=1e-3)


def test_local_conv_kernel_size_formula():
    # round(log2(in)/2 + 0.5) // 2 * 2 + 1 (Python round), always odd
    assert [local_conv_kernel_size(c) for c in (17, 32, 64, 96, 256, 1024, 2048)] == \
        [3, 3, 5, 5, 5, 7, 7]


# --------------------------------------------------------------------------------------------
# Fourier Disjoint Weight
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize('d1,d2,kernel_num', [(12, 9, 7), (48, 64, 64), (15, 15, 1), (6, 6, 24),
                                              (384, 192, 64)])
def test_disjoint_groups_cover_once_and_are_ordered(d1, d2, kernel_num):
    groups = fourier_disjoint_groups(d1, d2, kernel_num)
    norms = rfft2_frequency_norm(d1, d2)
    assert groups.shape == norms.shape == (d1, d2 // 2 + 1)
    counts = torch.bincount(groups.flatten(), minlength=kernel_num)
    assert counts.numel() == kernel_num and counts.sum() == groups.numel()  # each exactly once
    assert counts.min() >= 1 and counts.max() - counts.min() <= 1
    for g in range(kernel_num - 1):  # ordered by the norm of the frequency index
        assert norms[groups == g].max() <= norms[groups == g + 1].min()
    # the frequency index is (fftfreq(d1), rfftfreq(d2)): DC is in the first group
    assert groups[0, 0] == 0


@pytest.mark.parametrize('d1,d2,kernel_num', [(64, 62, 64), (384, 192, 64), (30, 30, 8)])
def test_disjoint_groups_equal_release_even_split(d1, d2, kernel_num):
    norms = (torch.fft.fftfreq(d1)[:, None] ** 2 + torch.fft.rfftfreq(d2)[None] ** 2).sqrt()
    num = norms.numel()
    assert num % kernel_num == 0
    grid = torch.stack(torch.meshgrid(torch.fft.fftfreq(d1), torch.fft.rfftfreq(d2),
                                      indexing='ij'), -1)
    order = torch.sort(torch.linalg.vector_norm(grid, dim=-1).flatten()).indices
    expected = torch.empty(num, dtype=torch.int64)
    for g, chunk in enumerate(order.chunk(kernel_num)):
        expected[chunk] = g
    assert torch.equal(fourier_disjoint_groups(d1, d2, kernel_num).flatten(), expected)


def test_fdconv_uses_the_disjoint_groups():
    layer = FDConv(20, 24, 3, kernel_num=7)
    expected = fourier_disjoint_groups(24 * 3, 20 * 3, 7).flatten()
    assert torch.equal(layer.fdw_group_index, expected)
    assert 'fdw_group_index' not in layer.state_dict()


@pytest.mark.parametrize('shape', [(24, 20, 3, 3), (17, 33, 3, 3), (40, 33, 1, 1), (33, 40, 1, 1),
                                   (48, 96)])
def test_fdw_round_trip(shape):
    weight = torch.randn(shape)
    for ratio in (1, 3):
        dft = conv_weight_to_dft_weight(weight, ratio)
        out_ch, in_ch = shape[:2]
        k = shape[2] if len(shape) == 4 else 1
        assert dft.shape == (ratio, out_ch * k, in_ch * k // 2 + 1, 2)
        back = dft_weight_to_conv_weight(dft, out_ch, in_ch, k).view(shape)
        torch.testing.assert_close(back, weight, rtol=0, atol=1e-5 * weight.abs().max().item())


def test_matrix_layout_is_out_k_in_k():
    weight = torch.arange(2 * 3 * 3 * 3.).view(2, 3, 3, 3)
    matrix = conv_weight_to_matrix(weight)
    assert matrix.shape == (6, 9)
    # row o*k + kh, column i*k + kw
    assert matrix[1 * 3 + 2, 2 * 3 + 1] == weight[1, 2, 2, 1]
    assert torch.equal(matrix_to_conv_weight(matrix, 2, 3, 3), weight)


# --------------------------------------------------------------------------------------------
# Forward / backward over a matrix of shapes and options
# --------------------------------------------------------------------------------------------

SHAPE_MATRIX = [
    # (in, out, k, stride, padding, dilation, batch, hw, kernel_num, note)
    (17, 17, 3, 1, 1, 1, 2, 8, 4, 'smallest dynamic width; odd in*k = 51'),
    (24, 40, 3, 2, 1, 1, 3, 9, 7, 'stride 2, kernel_num not dividing the coefficients'),
    (32, 24, 3, 1, 2, 2, 2, 10, 64, 'dilation 2'),
    (33, 20, 3, 1, 1, 1, 1, 7, 5, 'batch 1, odd in*k = 99'),
    (20, 32, 3, 1, 1, 1, 2, 1, 4, '1x1 feature map'),
    (33, 48, 1, 1, 0, 1, 2, 6, 64, '1x1 kernel, odd in'),
    (40, 24, 1, 2, 0, 1, 2, 7, 3, '1x1 kernel, stride 2'),
    (20, 20, 3, 1, 1, 1, 2, 5, 1, 'kernel_num 1: no kernel attention'),
]


def _finite_grads(module, x):
    return all(torch.isfinite(p.grad).all() for p in module.parameters() if p.requires_grad) \
        and torch.isfinite(x.grad).all()


@pytest.mark.parametrize('case', SHAPE_MATRIX, ids=[c[-1] for c in SHAPE_MATRIX])
def test_forward_backward_shape_matrix(case):
    in_ch, out_ch, k, stride, padding, dilation, batch, hw, kernel_num, _ = case
    layer = FDConv(in_ch, out_ch, k, stride, padding, dilation, kernel_num=kernel_num)
    assert layer.is_fdconv
    reference = nn.Conv2d(in_ch, out_ch, k, stride, padding, dilation)
    x = torch.randn(batch, in_ch, hw, hw, requires_grad=True)
    out = layer(x)
    assert out.shape == reference(x).shape
    out.square().mean().backward()
    assert all(p.grad is not None for p in layer.parameters())
    assert _finite_grads(layer, x)


def test_noncontiguous_and_channels_last_inputs_match_contiguous():
    layer = FDConv(24, 32, 3, padding=1, kernel_num=8).eval()
    x = torch.randn(2, 24, 9, 11)
    expected = layer(x)
    channels_last = x.contiguous(memory_format=torch.channels_last)
    out = layer(channels_last)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    assert out.is_contiguous(memory_format=torch.channels_last)
    transposed = x.transpose(2, 3).contiguous().transpose(2, 3)  # same values, odd strides
    assert not transposed.is_contiguous()
    torch.testing.assert_close(layer(transposed), expected, rtol=1e-4, atol=1e-5)
    sliced = torch.randn(2, 48, 9, 11)[:, ::2]
    torch.testing.assert_close(layer(sliced), layer(sliced.contiguous()), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_forward_backward(dtype):
    skip_without_cpu_autocast(dtype)
    layer = FDConv(24, 32, 3, padding=1, kernel_num=8)
    x = torch.randn(2, 24, 8, 8, requires_grad=True)
    expected = layer(x).detach()
    with torch.autocast(device_type='cpu', dtype=dtype):
        out = layer(x)
    assert out.dtype == dtype
    out.float().square().mean().backward()
    assert _finite_grads(layer, x)
    torch.testing.assert_close(out.float(), expected, rtol=0.05, atol=0.05 * expected.abs().max())
    linear = FDLinear(24, 40, kernel_num=8)
    tokens = torch.randn(2, 5, 24, requires_grad=True)
    with torch.autocast(device_type='cpu', dtype=dtype):
        linear(tokens).float().sum().backward()
    assert _finite_grads(linear, tokens)


def test_samples_are_independent():
    layer = FDConv(20, 24, 3, padding=1, kernel_num=6).eval()
    _randomize(layer)
    x = torch.randn(3, 20, 7, 7)
    together = layer(x)
    for b in range(3):
        torch.testing.assert_close(layer(x[b:b + 1]), together[b:b + 1], rtol=1e-4, atol=1e-5)


def test_batch_one_in_training_mode():
    layer = FDConv(20, 24, 3, padding=1, kernel_num=6).train()
    x = torch.randn(1, 20, 5, 5, requires_grad=True)
    layer(x).sum().backward()
    assert _finite_grads(layer, x)
    assert layer.KSM_Global.bn.num_batches_tracked == 0  # batch-1 statistics are not tracked


# --------------------------------------------------------------------------------------------
# The whole layer against a direct, per-sample transcription of docs/fdconv.md (float64)
# --------------------------------------------------------------------------------------------

def _randomize(module, std=0.5):
    """Move every KSM/FBM parameter away from its (near-identity) init."""
    with torch.no_grad():
        for name, param in module.named_parameters():
            if 'KSM' in name or 'FBM' in name:
                param.add_(torch.randn_like(param) * std)


def _spec_reference(layer, x):
    """The layer's formula, one sample at a time, with the layer's own KSM/FBM sub-modules."""
    out_ch, in_ch, k = layer.out_channels, layer.in_channels, layer.kernel_size[0]
    d1, d2 = out_ch * k, in_ch * k
    n = layer.kernel_num * layer.param_ratio
    reduction = layer.fd_options.param_reduction
    alpha = 1.0 if reduction < 1 else min(in_ch, out_ch) // 2 * n / reduction
    if layer.is_fdw and layer.dft_weight.dim() == 3:  # reduced: the kept lowest frequencies
        kept = frequency_order(d1, d2)[:layer.dft_weight.shape[1]]
        dft = torch.zeros(layer.param_ratio, d1 * (d2 // 2 + 1), 2, dtype=x.dtype)
        dft[:, kept] = layer.dft_weight
        dft = dft.view(layer.param_ratio, d1, d2 // 2 + 1, 2)
    elif layer.is_fdw:
        dft = layer.dft_weight
    else:  # convert_param=False: the FDW of the dense weight, in every forward
        dense = layer.weight.view(out_ch, in_ch, k, k).permute(0, 2, 1, 3).reshape(d1, d2)
        dft = torch.view_as_real(torch.fft.rfft2(dense)).expand(layer.param_ratio, -1, -1, -1)
        dft = dft / (min(in_ch, out_ch) // 2)
    groups = fourier_disjoint_groups(d1, d2, layer.kernel_num,
                                     kept.numel() if reduction < 1 else None)
    outputs = []
    for b in range(x.shape[0]):
        xb = x[b:b + 1]
        pooled = xb.mean(dim=(2, 3), keepdim=True)
        factors = layer.KSM_Global(pooled)
        attention = factors.kernel.view(layer.param_ratio, layer.kernel_num)
        spectrum = sum(torch.view_as_complex(dft[p].contiguous()) * alpha
                       * attention[p][groups.clamp(min=0)] for p in range(layer.param_ratio))
        matrix = torch.fft.irfft2(spectrum, s=(d1, d2))
        fdw = matrix.view(out_ch, k, in_ch, k).permute(0, 2, 1, 3)
        weight = fdw
        if factors.spatial is not None:
            weight = weight * factors.spatial.view(1, 1, k, k)
        if factors.channel is not None:
            weight = weight * factors.channel.view(1, in_ch, 1, 1)
        if factors.filter is not None:
            weight = weight * factors.filter.view(out_ch, 1, 1, 1)
        if layer.KSM_Local is not None:
            weight = weight * layer.KSM_Local(pooled.flatten(1))[0]
        xin = layer.FBM(xb) if layer.FBM is not None else xb
        outputs.append(F.conv2d(xin, weight, layer.bias, layer.stride, layer.padding,
                                layer.dilation))
    return torch.cat(outputs)


@pytest.mark.parametrize('config', [
    dict(args=(20, 24, 3), kwargs=dict(padding=1, kernel_num=6), hw=7),
    dict(args=(18, 21, 3), kwargs=dict(stride=2, padding=1, kernel_num=5, param_ratio=2,
                                       ksm_global_act='tanh', ksm_local_act='tanh'), hw=9),
    dict(args=(24, 20, 1), kwargs=dict(kernel_num=9, ksm_global_act='softmax',
                                       ksm_only_kernel_att=True), hw=6),
    dict(args=(20, 20, 3), kwargs=dict(padding=2, dilation=2, kernel_num=4, param_reduction=2.0,
                                       fbm_cfg=dict(k_list=[2, 4, 8], spatial_group=4,
                                                    lowfreq_att=True, act='tanh')), hw=16),
    dict(args=(20, 24, 3), kwargs=dict(padding=1, kernel_num=6, param_reduction=0.3), hw=7),
    dict(args=(20, 24, 3), kwargs=dict(padding=1, kernel_num=3, param_ratio=2,
                                       convert_param=False), hw=7),
    dict(args=(24, 20, 1), kwargs=dict(kernel_num=5, convert_param=False, linear_mode=True),
         hw=5),
])
def test_matches_per_sample_spec_transcription(config):
    layer = FDConv(*config['args'], **config['kwargs'], dtype=torch.float64).eval()
    _randomize(layer)
    x = torch.randn(3, config['args'][0], config['hw'], config['hw'], dtype=torch.float64)
    torch.testing.assert_close(layer(x), _spec_reference(layer, x), rtol=1e-9, atol=1e-10)


def test_gradients_match_the_spec_transcription():
    """The custom backward of the grouped spectrum (and every other gradient) against autograd
    through the per-sample transcription."""
    layer = FDConv(18, 20, 3, padding=1, kernel_num=5, param_ratio=2, dtype=torch.float64).eval()
    _randomize(layer)
    x = torch.randn(2, 18, 6, 6, dtype=torch.float64, requires_grad=True)
    grads = torch.autograd.grad(layer(x).square().sum(), [x, *layer.parameters()])
    expected = torch.autograd.grad(_spec_reference(layer, x).square().sum(),
                                   [x, *layer.parameters()])
    for (name, _), got, want in zip([('x', x), *layer.named_parameters()], grads, expected):
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10, msg=name)


def test_grouped_spectrum_gradcheck():
    from mmfreq.layers.fdconv_autograd import GroupScaledSpectrum
    for ratio, d1, d2, kernel_num in [(1, 6, 10, 5), (2, 9, 7, 4), (1, 4, 4, 12)]:
        groups = fourier_disjoint_groups(d1, d2, kernel_num).flatten()
        dft = torch.randn(ratio, d1, d2 // 2 + 1, 2, dtype=torch.float64, requires_grad=True)
        scale = torch.randn(3, ratio, kernel_num, dtype=torch.float64, requires_grad=True)
        spectrum = GroupScaledSpectrum.apply(dft, scale, groups)
        expected = (torch.view_as_complex(dft).unsqueeze(0)
                    * scale[:, :, groups].view(3, ratio, d1, -1)).sum(1)
        torch.testing.assert_close(spectrum, expected, rtol=0, atol=1e-14)
        assert torch.autograd.gradcheck(
            lambda d, s: GroupScaledSpectrum.apply(d, s, groups), (dft, scale))


def test_grouped_spectrum_traced_form_is_the_eager_one(monkeypatch):
    """Export traces the real (real, imag) pair products; eager runs complex-by-real products.
    Both give the same spectrum."""
    from mmfreq.layers import fdconv_autograd
    for ratio in (1, 2):
        groups = fourier_disjoint_groups(9, 12, 4).flatten()
        dft = torch.randn(ratio, 9, 7, 2)
        scale = torch.randn(3, ratio, 4)
        eager = fdconv_autograd.GroupScaledSpectrum.apply(dft, scale, groups)
        monkeypatch.setattr(fdconv_autograd, 'is_compiling', lambda: True)
        traced = fdconv_autograd.GroupScaledSpectrum.apply(dft, scale, groups)
        monkeypatch.undo()
        torch.testing.assert_close(traced, eager, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('act', ['sigmoid', 'tanh'])
@pytest.mark.parametrize("shared_base", [False])
def test_locally_modulated_weight_gradcheck(act, shared_base):
    """The fused local-map node against its formula, and its hand-written backward by gradcheck;
    ``base`` as the transposed matrix view FDW gives it, or one dense weight shared by the batch."""
    from mmfreq.layers.fdconv_autograd import LocallyModulatedWeight
    batch, out_ch, in_ch, k, taps = 2, 3, 4, 3, 3
    local_weight = torch.randn(out_ch * k * k, taps, dtype=torch.float64, requires_grad=True)
    windows = torch.randn(batch, in_ch, taps, dtype=torch.float64, requires_grad=True)
    small = torch.rand(batch, 1, k, k, in_ch, dtype=torch.float64, requires_grad=True)
    if shared_base:
        dense = torch.randn(out_ch, in_ch, k, k, dtype=torch.float64, requires_grad=True)
        make_base = lambda d: d.permute(0, 2, 3, 1).unsqueeze(0)  # noqa: E731
    else:
        dense = torch.randn(batch, out_ch * k, in_ch * k, dtype=torch.float64, requires_grad=True)
        make_base = lambda d: d.view(batch, out_ch, k, in_ch, k).transpose(-1, -2)  # noqa: E731

    def fused(lw, win, sm, d):
        return LocallyModulatedWeight.apply(lw, win, sm, make_base(d), act)

    logits = (local_weight @ windows.transpose(1, 2)).view(batch, out_ch, k, k, in_ch)
    local = 1 + torch.tanh(logits) if act == 'tanh' else torch.sigmoid(logits)
    expected = local * small * make_base(dense)
    inputs = (local_weight, windows, small, dense)
    torch.testing.assert_close(fused(*inputs), expected, rtol=1e-12, atol=1e-14)
    assert torch.autograd.gradcheck(fused, inputs)


def test_fdlinear_equals_fdconv_1x1_on_tokens():
    conv = FDConv(24, 40, 1, kernel_num=6, dtype=torch.float64).eval()
    _randomize(conv)
    linear = FDLinear(24, 40, kernel_num=6, dtype=torch.float64).eval()
    linear.load_state_dict(conv.state_dict(), strict=True)
    tokens = torch.randn(2, 3, 5, 24, dtype=torch.float64)  # (B, H, W, C) as in ConvNeXt
    expected = conv(tokens.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    torch.testing.assert_close(linear(tokens), expected, rtol=1e-9, atol=1e-10)
    # (B, L, C) as in Swin, and a 2-D input whose rows are samples
    torch.testing.assert_close(linear(tokens.flatten(1, 2)), expected.flatten(1, 2))
    rows = tokens[:, 0, 0]
    torch.testing.assert_close(linear(rows), torch.cat([linear(r[None, None])[0] for r in rows]))


# --------------------------------------------------------------------------------------------
# Fallback and conversion
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize('args,kwargs,options', [
    ((16, 64, 3), dict(padding=1), {}),  # min(in, out) <= 16
    ((64, 8, 1), {}, {}),
    ((32, 32, 5), dict(padding=2), {}),  # k not in [1, 3]
    ((32, 32, (1, 3)), dict(padding=(0, 1)), {}),  # non-square kernel
    ((32, 32, 3), dict(padding=1), dict(use_fdconv_if_k_in=[1])),
    ((32, 32, 3), dict(padding=1, groups=4), dict(use_fdconv_if_c_gt=32)),  # grouped, plain
    ((8, 8, 3), dict(groups=8), {}),  # depthwise, plain
])
def test_fallback_is_exactly_the_plain_conv(args, kwargs, options):
    layer = FDConv(*args, kernel_num=64, **kwargs, **options)
    assert not layer.is_fdconv
    assert set(layer.state_dict()) == {'weight', 'bias'}
    assert not any(name.startswith(('KSM', 'FBM')) for name, _ in layer.named_modules() if name)
    reference = nn.Conv2d(*args, **kwargs)
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(2, args[0], 9, 9)
    assert torch.equal(layer(x), reference(x))
    linear = FDLinear(16, 64)
    assert not linear.is_fdconv and linear.weight.shape == (64, 16)
    plain = nn.Linear(16, 64)
    plain.load_state_dict(linear.state_dict())
    tokens = torch.randn(2, 3, 16)
    assert torch.equal(linear(tokens), plain(tokens))


def _pooled_filter_factor(layer, x):
    with torch.no_grad():
        return layer.KSM_Global(x.mean(dim=(2, 3), keepdim=True)).filter


@pytest.mark.parametrize('args,kwargs', [((32, 48, 3), dict(padding=1)),
                                         ((40, 24, 3), dict(stride=2, padding=1)),
                                         ((48, 64, 1), {}), ((33, 17, 3), dict(padding=1))])
def test_converted_layer_reproduces_the_conv_at_init(args, kwargs):
    """Tolerance: at init every factor except ``filter`` is 1 up to ~1e-5 here (the channel,
    spatial, kernel heads and the FBM maps have N(0, 1e-6) weights, KSM_Local constant 1e-6
    weights; their logits are sums of at most ~600 such terms times O(1) inputs, and the sigmoid
    slope at 0 is 1/4), ``alpha`` cancels the ``min(in, out) // 2`` of the conversion and the 1/n of
    the kernel attention exactly, and the fp32 rfft2/irfft2 round trip adds ~1e-6 relative. So
    ``y_fd - bias == filter * (y_conv - bias)`` holds to ``atol = 1e-3 * max|y_conv|`` with a wide
    margin. ``filter_fc`` keeps its Kaiming init (as in the release), so ``filter`` itself is not ~1: its effect
    (|filter - 1| ~ 0.1 - 0.5) is two orders of magnitude above the tolerance, and the test checks
    that the plain comparison without it fails, i.e. the tolerance can detect a wrong factor."""
    conv = nn.Conv2d(*args, **kwargs)
    layer = fdconv_from_conv(conv, kernel_num=16).eval()
    assert layer.is_fdconv
    x = torch.randn(4, args[0], 10, 10)
    y_conv = conv(x).detach()
    y_fd = layer(x).detach()
    tolerance = 1e-3 * y_conv.abs().max().item()
    bias = conv.bias.view(1, -1, 1, 1)
    filt = _pooled_filter_factor(layer, x).view(4, -1, 1, 1)
    torch.testing.assert_close(y_fd - bias, filt * (y_conv - bias), rtol=0, atol=tolerance)
    assert (y_fd - y_conv).abs().max() > 10 * tolerance  # filter_fc makes it approximate
    # with filter_fc at zero the converted layer is the conv itself (to the same tolerance)
    with torch.no_grad():
        layer.KSM_Global.filter_fc.weight.zero_()
    torch.testing.assert_close(layer(x).detach(), y_conv, rtol=0, atol=tolerance)
    # a conversion off by 1 % (e.g. a wrong scale) is caught by this tolerance
    with torch.no_grad():
        layer.dft_weight.mul_(1.01)
    assert (layer(x).detach() - y_conv).abs().max() > tolerance


def test_converted_linear_reproduces_the_linear_at_init():
    linear = nn.Linear(48, 96)
    layer = fdconv_from_conv(linear, kernel_num=16).eval()
    with torch.no_grad():
        layer.KSM_Global.filter_fc.weight.zero_()
    tokens = torch.randn(2, 7, 48)
    expected = linear(tokens).detach()
    torch.testing.assert_close(layer(tokens).detach(), expected, rtol=0,
                               atol=1e-3 * expected.abs().max().item())


# --------------------------------------------------------------------------------------------
# Frequency Band Modulation
# --------------------------------------------------------------------------------------------

def test_fbm_at_init_is_nearly_identity():
    fbm = FrequencyBandModulation(32)
    x = torch.randn(2, 32, 20, 24)
    torch.testing.assert_close(fbm(x), x, rtol=0, atol=1e-4 * x.abs().max().item())


@pytest.mark.parametrize('cfg', [dict(), dict(act='tanh'), dict(lowfreq_att=True),
                                 dict(spatial_group=4, k_list=[2, 3, 8, 16])])
@pytest.mark.parametrize('hw', [(16, 16), (13, 22), (1, 1), (70, 90)])
def test_fbm_with_unit_maps_is_identity(cfg, hw):
    fbm = FrequencyBandModulation(16, **cfg)
    with torch.no_grad():
        for conv in fbm.freq_weight_conv_list:  # sigmoid(0) * 2 = 1 + tanh(0) = 1
            conv.weight.zero_()
            conv.bias.zero_()
    x = torch.randn(2, 16, *hw)
    torch.testing.assert_close(fbm(x), x, rtol=0, atol=1e-5 * x.abs().max().item())


def _fbm_reference(fbm, x):
    """The FBM loop, band by band, with the module's own map convs; the release's mask rule
    ``f < 0.5 / kk + 1e-8`` with the bound rounded to float32, on the 64x64 grid."""
    _, channels, h, w = x.shape
    groups = fbm.spatial_group
    spectrum = torch.fft.rfft2(x, norm='ortho')
    rows = (torch.arange(h) * 64 / h).floor().long()
    cols = (torch.arange(w // 2 + 1) * 33 / (w // 2 + 1)).floor().long()
    chebyshev = torch.maximum(torch.fft.fftfreq(64).abs()[:, None], torch.fft.rfftfreq(64)[None])

    def act(z):
        if fbm.act == 'tanh':
            return 1 + torch.tanh(z)
        if fbm.act == 'softmax':
            return torch.softmax(z, dim=1) * z.shape[1]
        return torch.sigmoid(z) * 2

    def modulate(band, conv):
        band = band.unflatten(1, (groups, channels // groups))
        return (band * act(conv(x)).unsqueeze(2)).flatten(1, 2)

    prev, out = x, 0
    for i, kk in enumerate(fbm.k_list):
        mask = (chebyshev < torch.tensor(0.5 / kk + 1e-8, dtype=torch.float32))[rows][:, cols]
        low = torch.fft.irfft2(spectrum * mask, s=(h, w), norm='ortho')
        out = out + modulate(prev - low, fbm.freq_weight_conv_list[i])
        prev = low
    return out + (modulate(prev, fbm.freq_weight_conv_list[-1]) if fbm.lowfreq_att else prev)


@pytest.mark.parametrize('cfg', [dict(), dict(act='tanh', lowfreq_att=True),
                                 dict(act='softmax', spatial_group=4, k_list=[2, 3, 16]),
                                 dict(spatial_group=2, spatial_kernel=5)])
def test_fbm_matches_the_spec_loop(cfg):
    fbm = FrequencyBandModulation(8, **cfg).double()
    _randomize_all(fbm)
    for hw in [(13, 22), (64, 64), (5, 3)]:
        x = torch.randn(2, 8, *hw, dtype=torch.float64)
        torch.testing.assert_close(fbm(x), _fbm_reference(fbm, x), rtol=1e-10, atol=1e-10)


def _randomize_all(module, std=0.5):
    with torch.no_grad():
        for param in module.parameters():
            param.add_(torch.randn_like(param) * std)


def test_fbm_keeps_only_the_low_band_when_the_high_maps_are_zero():
    fbm = FrequencyBandModulation(8)
    with torch.no_grad():
        for conv in fbm.freq_weight_conv_list:
            conv.weight.zero_()
            conv.bias.fill_(-60.0)  # sigmoid(-60) * 2 ~ 1e-26
    x = torch.randn(1, 8, 64, 64)
    spectrum = torch.fft.rfft2(fbm(x), norm='ortho').abs()
    low = low_pass_masks(64, 64, [8])[0]  # Chebyshev frequency < 1/16
    assert spectrum[..., ~low].max() < 1e-5 * spectrum.max()
    torch.testing.assert_close(spectrum[..., low], torch.fft.rfft2(x, norm='ortho').abs()[..., low])


# Coefficients in the release's low-pass masks for k_list [2, 4, 8] at several input sizes
# (counted with the authors' FBM module): its float32 bound makes kk = 4, 8 inclusive.
RELEASE_MASK_COUNTS = {(64, 64): [496, 153, 45], (14, 14): [28, 9, 4], (7, 9): [9, 2, 1],
                       (32, 48): [195, 63, 20], (100, 75): [912, 297, 84],
                       (128, 128): [1984, 612, 180]}


def test_fbm_masks_are_the_release_masks():
    fbm = FrequencyBandModulation(4)
    for (h, w), counts in RELEASE_MASK_COUNTS.items():
        masks = fbm.band_masks(h, w)
        assert masks.shape == (3, h, w // 2 + 1)
        assert masks.flatten(1).sum(1).tolist() == counts, (h, w)


def test_fbm_masks_follow_the_64x64_grid_resized_by_nearest():
    fbm = FrequencyBandModulation(4)
    chebyshev = torch.maximum(torch.fft.fftfreq(64).abs()[:, None], torch.fft.rfftfreq(64)[None])
    grid = torch.stack([chebyshev < torch.tensor(0.5 / kk + 1e-8, dtype=torch.float32)
                        for kk in (2, 4, 8)])
    # the float32 bound: 0.25 is excluded, 0.125 and 0.0625 are included
    assert not grid[0][chebyshev == 0.25].any() and grid[1][chebyshev == 0.125].all()
    assert grid[2][chebyshev == 0.0625].all()
    assert torch.equal(fbm.band_masks(64, 64), grid)
    for h, w in [(14, 14), (32, 48), (100, 75), (7, 9)]:
        rows = (torch.arange(h) * 64 / h).floor().long()  # nearest: floor(i * in / out)
        cols = (torch.arange(w // 2 + 1) * 33 / (w // 2 + 1)).floor().long()
        assert torch.equal(fbm.band_masks(h, w), grid[:, rows][:, :, cols]), (h, w)
    assert torch.equal(fbm.band_masks(32, 64), low_pass_masks(32, 64, [2, 4, 8]))
    wide = FrequencyBandModulation(4, max_size=(128, 128))
    assert torch.equal(wide.band_masks(128, 128), low_pass_masks(128, 128, [2, 4, 8]))


def test_fbm_placement():
    assert FDConv(32, 32, 3, padding=1).FBM is not None  # k = 3 in use_fbm_if_k_in
    assert FDConv(32, 32, 1).FBM is None
    assert FDConv(32, 32, 1, stride=2).FBM is None
    assert FDConv(32, 32, 1, stride=2, use_fbm_for_stride=True).FBM is not None
    assert FDConv(32, 32, 3, padding=1, use_fbm_if_k_in=[]).FBM is None


# --------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------

def test_kernel_num_none_and_temperatures():
    layer = FDConv(32, 48, 3, padding=1, kernel_num=None, param_ratio=2)
    assert layer.kernel_num == 24
    assert layer.KSM_Global.kernel_fc.out_channels == 48
    assert math.isclose(layer.KSM_Global.kernel_temp, math.sqrt(48))
    assert math.isclose(layer.KSM_Global.temp, math.sqrt(48))
    default = FDConv(32, 48, 3, padding=1)
    assert default.kernel_num == 4
    assert default.KSM_Global.temp == default.KSM_Global.kernel_temp == 1
    assert FDConv(32, 48, 3, temp=0.5).KSM_Global.temp == 0.5


def test_ksm_only_kernel_att_and_no_local():
    layer = FDConv(32, 32, 3, padding=1, ksm_only_kernel_att=True, use_ksm_local=False)
    ksm = layer.KSM_Global
    assert ksm.channel_fc is None and ksm.filter_fc is None and ksm.spatial_fc is None
    assert ksm.kernel_fc is not None and layer.KSM_Local is None
    assert not any(key.startswith('KSM_Local') for key in layer.state_dict())
    layer(torch.randn(2, 32, 6, 6)).sum().backward()


def test_convert_param_false_keeps_the_dense_weight_and_computes_the_same_function():
    torch.manual_seed(0)
    dense = FDConv(32, 24, 3, padding=1, kernel_num=4, convert_param=False).eval()
    assert 'weight' in dense.state_dict() and 'dft_weight' not in dense.state_dict()
    assert dense.KSM_Global.kernel_fc.out_channels == 4  # the release keeps the kernel attention
    _randomize(dense)
    fdw = FDConv(32, 24, 3, padding=1, kernel_num=4).eval()
    state = {key: value for key, value in dense.state_dict().items() if key != 'weight'}
    state['dft_weight'] = conv_weight_to_dft_weight(dense.weight.detach())
    fdw.load_state_dict(state, strict=True)
    x = torch.randn(2, 32, 6, 6, requires_grad=True)
    torch.testing.assert_close(dense(x), fdw(x), rtol=1e-5, atol=1e-6)
    dense(x).sum().backward()
    assert _finite_grads(dense, x)


def test_linear_mode_stores_a_1x1_dense_weight_as_a_matrix():
    layer = FDConv(32, 48, 1, kernel_num=4, convert_param=False, linear_mode=True)
    assert layer.weight.shape == (48, 32)
    assert FDConv(32, 48, 1, kernel_num=4, linear_mode=True).dft_weight.shape == (1, 48, 17, 2)
    assert FDConv(8, 8, 3, linear_mode=True, convert_param=False).weight.shape == (8, 8, 3, 3)
    layer(torch.randn(2, 32, 5, 5)).sum().backward()


def test_param_reduction_keeps_the_lowest_frequencies_unscaled():
    layer = FDConv(32, 32, 3, padding=1, kernel_num=4, param_reduction=0.25)
    num = 96 * 49
    assert layer.dft_weight.shape == (1, int(num * 0.25), 2)
    assert layer.fdw_alpha == 1.0  # the release applies no alpha to a reduced weight
    dense = torch.randn(32, 32, 3, 3)
    layer.set_dense_weight(dense)
    full = conv_weight_to_dft_weight(dense).reshape(-1, 2)
    kept = frequency_order(96, 96)[:int(num * 0.25)]
    torch.testing.assert_close(layer.dft_weight[0], full[kept])


def test_deepcopy_and_reset_parameters():
    layer = FDConv(24, 24, 3, padding=1, kernel_num=8)
    clone = copy.deepcopy(layer)
    x = torch.randn(2, 24, 6, 6)
    torch.testing.assert_close(clone(x), layer(x))
    layer.reset_parameters()
    assert torch.isfinite(layer(x)).all()


INVALID_OPTIONS = [
    ('reduction', dict(reduction=0)),
    ('kernel_num', dict(kernel_num=0)),
    ('kernel_num', dict(kernel_num=2.5)),
    ('use_fdconv_if_c_gt', dict(use_fdconv_if_c_gt=-1)),
    ('use_fdconv_if_k_in', dict(use_fdconv_if_k_in='3')),
    ('use_fbm_if_k_in', dict(use_fbm_if_k_in=[0])),
    ('use_fbm_for_stride', dict(use_fbm_for_stride='yes')),
    ('kernel_temp', dict(kernel_temp=0)),
    ('temp', dict(temp=-1.0)),
    ('att_multi', dict(att_multi=float('nan'))),
    ('param_ratio', dict(param_ratio=0)),
    ('param_reduction', dict(param_reduction=0)),
    ('ksm_only_kernel_att', dict(ksm_only_kernel_att=1)),
    ('use_ksm_local', dict(use_ksm_local=None)),
    ('ksm_local_act', dict(ksm_local_act='relu')),
    ('ksm_global_act', dict(ksm_global_act='relu')),
    ('convert_param', dict(convert_param='no')),
    ('fbm_cfg', dict(fbm_cfg=[2, 4])),
    ('fbm_cfg has unknown keys', dict(fbm_cfg=dict(kk=1))),
    ('k_list', dict(fbm_cfg=dict(k_list=[]))),
    ('k_list', dict(fbm_cfg=dict(k_list=[2, -4]))),
    ('lowfreq_att', dict(fbm_cfg=dict(k_list=[2], lowfreq_att='no'))),
    ('act', dict(fbm_cfg=dict(k_list=[2], act='relu'))),
    ('spatial_group', dict(fbm_cfg=dict(k_list=[2], spatial_group=0))),
    ('spatial_kernel', dict(fbm_cfg=dict(k_list=[2], spatial_kernel=2))),
    ('init', dict(fbm_cfg=dict(k_list=[2], init='ones'))),
    ('spatial', dict(fbm_cfg=dict(k_list=[2], spatial='attn'))),
    ('max_size', dict(fbm_cfg=dict(k_list=[2], max_size=64))),
    ('k_list', dict(fbm_cfg=dict(act='tanh'))),  # the release would then use k_list=[2]
    ('spatial_freq_decompose', dict(spatial_freq_decompose=True)),
    ('ksm_only_kernel_att=True', dict(ksm_global_act='softmax')),
    ('convert_param=True', dict(convert_param=False, param_reduction=0.5)),
    ('linear_mode', dict(linear_mode='no')),
    ('use_fdconv_if_stride_in', dict(use_fdconv_if_stride_in=2)),
]


@pytest.mark.parametrize('option,kwargs', INVALID_OPTIONS,
                         ids=[f'{o}-{i}' for i, (o, _) in enumerate(INVALID_OPTIONS)])
def test_invalid_options_fail_at_build_time(option, kwargs):
    with pytest.raises(ValueError, match=option):
        FDConv(32, 32, 3, padding=1, **kwargs)
    with pytest.raises(ValueError, match=option):  # also on a layer that falls back
        FDConv(8, 8, 3, padding=1, **kwargs)
    with pytest.raises(ValueError, match=option):
        FDLinear(32, 32, **kwargs)


def test_layer_dependent_invalid_values_fail_at_build_time():
    with pytest.raises(ValueError, match='groups'):
        FDConv(32, 32, 3, padding=1, groups=2)
    with pytest.raises(ValueError, match='kernel_num'):
        FDConv(17, 17, 1, kernel_num=17 * 9 + 1)  # 17 x 9 coefficients
    with pytest.raises(ValueError, match='spatial_group'):
        FDConv(18, 18, 3, padding=1, fbm_cfg=dict(k_list=[2, 4, 8], spatial_group=4))
    with pytest.raises(ValueError, match='use_fbm_if_k_in'):
        FDLinear(32, 32, use_fbm_if_k_in=[1, 3])
    with pytest.raises(ValueError, match='linear_mode'):
        FDConv(32, 32, 3, padding=1, convert_param=False, linear_mode=True)
    with pytest.raises(ValueError, match='padding_mode'):
        FDConv(32, 32, 3, padding=1, padding_mode='reflect')
    assert FDConv(8, 8, 3, padding=1, padding_mode='reflect').padding_mode == 'reflect'
    with pytest.raises(ValueError, match='kernel_num'):  # 96 x 49 coefficients, 10% kept
        FDConv(32, 32, 3, kernel_num=471, param_reduction=0.1)
    with pytest.raises(TypeError, match='kernel_nums'):
        FDConv(32, 32, 3, kernel_nums=4)  # a misspelt option name
