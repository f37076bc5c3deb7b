"""Tests of FDAM's layers: AttInv attention, FreqScale and the block helpers (docs/fdam.md)."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmfreq.layers import (AttInvAttention, FDAMBlock, FreqScale, StarReLU, build_freq_scale,
                           freq_scale_residual)
from mmfreq.layers.attinv_attention import (attention_high_pass, attinv_num_params,
                                            high_frequency_gate, invert_attention)
from mmfreq.layers.fdam_block import fdam_num_params
from mmfreq.layers.freq_scale import freq_scale_num_params


def num_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


MODES = ('static', 'dynamic', 'group')


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _random_like_state(expected_shapes):
    return {name: torch.randn(shape) for name, shape in expected_shapes.items()}


def _load_strict_and_compare(module, expected_shapes):
    state = _random_like_state(expected_shapes)
    module.load_state_dict(state, strict=True)
    loaded = module.state_dict()
    assert {k: tuple(v.shape) for k, v in loaded.items()} == expected_shapes
    for name, value in state.items():
        assert torch.equal(loaded[name], value), name


# --------------------------------------------------------------------------------------------
# Release layouts (names and shapes as in the authors' release, docs/fdam.md)

def _attinv_release_shapes(dim, heads, qkv_bias):
    shapes = {'qkv.weight': (3 * dim, dim), 'proj.weight': (dim, dim), 'proj.bias': (dim,),
              'dy_freq.weight': (heads, dim), 'dy_freq.bias': (heads,),
              'dy_freq_2.weight': (heads, dim), 'dy_freq_2.bias': (heads,),
              'lf_gamma': (dim,), 'hf_gamma': (dim,),
              'dy_freq_starrelu.scale': (1,), 'dy_freq_starrelu.bias': (1,)}
    if qkv_bias:
        shapes['qkv.bias'] = (3 * dim,)
    return shapes


def _group_freq_scale_release_shapes(dim, n=4, g=16):
    hidden = int(dim * 0.0625)
    return {'reweight.fc1.weight': (hidden, dim), 'reweight.act.scale': (1,),
            'reweight.act.bias': (1,), 'reweight.fc2.weight': (g * n, hidden),
            'complex_weights': (n, dim // g, 14, 8)}


def test_release_attinv_state_dict_loads_strict():
    _load_strict_and_compare(AttInvAttention(384, 6, qkv_bias=True),
                             _attinv_release_shapes(384, 6, qkv_bias=True))
    _load_strict_and_compare(AttInvAttention(384, 6), _attinv_release_shapes(384, 6, False))


def test_release_group_freq_scale_state_dict_loads_strict():
    shapes = _group_freq_scale_release_shapes(384)
    assert shapes['complex_weights'] == (4, 24, 14, 8)
    _load_strict_and_compare(FreqScale(384), shapes)


def test_release_deit3_base_fdam_block_state_dict_loads_strict():
    dim, heads = 768, 12
    shapes = {'norm1.weight': (dim,), 'norm1.bias': (dim,), 'norm2.weight': (dim,),
              'norm2.bias': (dim,), 'mlp.fc1.weight': (4 * dim, dim), 'mlp.fc1.bias': (4 * dim,),
              'mlp.fc2.weight': (dim, 4 * dim), 'mlp.fc2.bias': (dim,),
              'gamma_1': (dim,), 'gamma_2': (dim,)}
    shapes.update({f'attn.{k}': v for k, v in _attinv_release_shapes(dim, heads, True).items()})
    for i in (1, 2):
        shapes.update({f'freq_scale_{i}.{k}': v
                       for k, v in _group_freq_scale_release_shapes(dim).items()})
    block = FDAMBlock(dim, heads, qkv_bias=True, layer_scale_init=1e-4,
                      freq_scale=dict(mode='group', num_filters=4, groups=16, size=14))
    _load_strict_and_compare(block, shapes)


def test_plain_block_has_plain_layout():
    block = FDAMBlock(32, 4, attn_inv=False, freq_scale=None)
    names = set(block.state_dict())
    assert names == {'norm1.weight', 'norm1.bias', 'norm2.weight', 'norm2.bias', 'attn.qkv.weight',
                     'attn.proj.weight', 'attn.proj.bias', 'mlp.fc1.weight', 'mlp.fc1.bias',
                     'mlp.fc2.weight', 'mlp.fc2.bias'}


# --------------------------------------------------------------------------------------------
# AttInv math

def _reference_attinv(module, x):
    """Explicit-softmax attention written out here, AttInv terms when the module has them."""
    batch, tokens, dim = x.shape
    heads, head_dim = module.num_heads, dim // module.num_heads
    qkv = F.linear(x, module.qkv.weight, module.qkv.bias)
    q, k, v = qkv.reshape(batch, tokens, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
    logits = torch.einsum('bhnd,bhmd->bhnm', q, k) / math.sqrt(head_dim)
    attn = torch.exp(logits - logits.amax(-1, keepdim=True))
    attn = attn / attn.sum(-1, keepdim=True)
    y = torch.einsum('bhnm,bhmd->bnhd', attn, v)  # (B, N, heads, head_dim)
    v = v.transpose(1, 2)
    if hasattr(module, 'dy_freq'):
        f = module.dy_freq_starrelu.scale * torch.relu(x) ** 2 + module.dy_freq_starrelu.bias
        s_lf = torch.tanh(F.linear(f, module.dy_freq_2.weight, module.dy_freq_2.bias))[..., None]
        s = F.softplus(F.linear(f, module.dy_freq.weight, module.dy_freq.bias))[..., None]
        s_hf = 2 * s ** 2 / (s ** 2 + 0.3678)
        lf_gamma = module.lf_gamma.view(heads, head_dim)
        hf_gamma = module.hf_gamma.view(heads, head_dim)
        y = y + y * s_lf * lf_gamma + s_hf * (v - y) * hf_gamma
    return F.linear(y.reshape(batch, tokens, dim), module.proj.weight, module.proj.bias)


def _randomise(module):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    return module.eval()


def test_attinv_with_zero_gammas_is_plain_attention():
    module = _randomise(AttInvAttention(48, 3, qkv_bias=True))
    with torch.no_grad():
        module.lf_gamma.zero_()
        module.hf_gamma.zero_()
    x = torch.randn(2, 1 + 5 * 7, 48)  # a class token and a 5x7 grid
    plain = AttInvAttention(48, 3, qkv_bias=True, lf_dy_weight=False, hf_dy_weight=False)
    plain.load_state_dict({k: v for k, v in module.state_dict().items()
                           if k.startswith(('qkv', 'proj'))})
    expected = _reference_attinv(plain, x)
    with torch.no_grad():
        # y + y * 0 + 0 * (V - y) is y bit for bit: same kernel, same numbers as plain attention
        assert torch.equal(module(x), plain(x))
        assert torch.equal(module(x, return_attention=True)[0], plain(x, return_attention=True)[0])
        # and plain attention is the explicit-softmax reference (fp32 default tolerances)
        torch.testing.assert_close(module(x), expected)
        torch.testing.assert_close(module(x, return_attention=True)[0], expected)


def test_attinv_both_dynamic_weights_off_is_standard_attention():
    module = _randomise(AttInvAttention(48, 3, lf_dy_weight=False, hf_dy_weight=False))
    assert set(module.state_dict()) == {'qkv.weight', 'proj.weight', 'proj.bias'}
    x = torch.randn(2, 11, 48)
    with torch.no_grad():
        torch.testing.assert_close(module(x), _reference_attinv(module, x))
        torch.testing.assert_close(module(x, return_attention=True)[0],
                                   _reference_attinv(module, x))


@pytest.mark.parametrize('lf,hf', [(True, True), (True, False), (False, True)])
def test_attinv_matches_spec_formula_fused_and_explicit(lf, hf):
    module = _randomise(AttInvAttention(48, 3, qkv_bias=True, lf_dy_weight=lf, hf_dy_weight=hf))
    x = torch.randn(2, 13, 48)
    reference = module
    if not (lf and hf):  # the reference reads both branches; zero the missing one's gamma
        reference = _randomise(AttInvAttention(48, 3, qkv_bias=True))
        state = reference.state_dict()
        state.update(module.state_dict())
        state['lf_gamma' if not lf else 'hf_gamma'] = torch.zeros(48)
        reference.load_state_dict(state)
    with torch.no_grad():
        expected = _reference_attinv(reference, x)
        fused = module(x)
        explicit, attn = module(x, return_attention=True)
    assert attn.shape == (2, 3, 13, 13)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 3, 13), rtol=0, atol=1e-6)
    torch.testing.assert_close(fused, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(explicit, fused, rtol=1e-5, atol=1e-5)


def test_high_frequency_gate_range():
    z = torch.linspace(-20, 20, 101)
    gate = high_frequency_gate(z)
    assert gate.min() >= 0 and gate.max() < 2
    assert torch.all(gate[1:] >= gate[:-1])  # monotone in the logit


def test_inverted_attention_removes_dc():
    """High-pass property (supplementary eq. 13, 24, 31, 33): rows of A sum to 1, so E - A has
    zero DC gain: V - A V ignores any token-constant part of V."""
    logits = torch.randn(2, 3, 20, 20, dtype=torch.float64) * 3
    attn = logits.softmax(-1)
    values = torch.randn(2, 3, 20, 8, dtype=torch.float64)
    offset = torch.randn(2, 3, 1, 8, dtype=torch.float64)  # per-channel DC
    inverted = invert_attention(attn)
    torch.testing.assert_close(inverted.sum(-1), torch.zeros(2, 3, 20, dtype=torch.float64),
                               rtol=0, atol=1e-12)
    high = attention_high_pass(values, attn @ values)
    torch.testing.assert_close(high, inverted @ values, rtol=0, atol=1e-12)
    shifted = attention_high_pass(values + offset, attn @ (values + offset))
    torch.testing.assert_close(shifted, high, rtol=0, atol=1e-12)
    constant = offset.expand_as(values)
    torch.testing.assert_close(attention_high_pass(constant, attn @ constant),
                               torch.zeros_like(values), rtol=0, atol=1e-12)


def test_inverted_shift_invariant_attention_output_has_zero_dc():
    """With A a convolution on a 6x5 torus (the paper's view of A as filters, eq. 6-10), the DC
    (spatial mean) of V - A V is exactly zero per channel, and A V keeps V's DC."""
    h, w = 6, 5
    kernel = torch.rand(h, w, dtype=torch.float64)
    kernel /= kernel.sum()
    rows = []
    for p in range(h):
        for q in range(w):
            rows.append(torch.roll(kernel, shifts=(p, q), dims=(0, 1)).flatten())
    attn = torch.stack(rows)  # (HW, HW), rows sum to 1, circulant
    values = torch.randn(h * w, 7, dtype=torch.float64)
    high = attention_high_pass(values, attn @ values)
    spectrum = torch.fft.fft2(high.T.reshape(7, h, w))
    torch.testing.assert_close(spectrum[:, 0, 0].abs(), torch.zeros(7, dtype=torch.float64),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close((attn @ values).mean(0), values.mean(0), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------
# FreqScale

@pytest.mark.parametrize('mode', MODES)
def test_freq_scale_zero_weights_is_zero_map(mode):
    module = FreqScale(32, mode=mode, num_filters=3, groups=4, init_scale=0.)
    assert torch.count_nonzero(module.complex_weights) == 0
    z = torch.randn(2, 32, 9, 12)
    out = module(z)
    assert torch.equal(out, torch.zeros_like(z))
    assert torch.equal(freq_scale_residual(module, z), z)


@pytest.mark.parametrize('mode', MODES)
def test_freq_scale_residual_is_near_identity_at_init(mode):
    module = FreqScale(32, mode=mode, num_filters=4, groups=4)
    z = torch.randn(2, 32, 14, 14)
    ratio = module(z).norm() / z.norm()
    assert 0 < ratio < 1e-4


def _bicubic(weight, size):
    return F.interpolate(weight, size=size, mode='bicubic', align_corners=True)


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('hw', [(14, 14), (10, 7)])
def test_freq_scale_matches_reference(mode, hw):
    """Reference written out here: per-sample weight mixed first, then resized (release order),
    channel group j = channels [j*C/g, (j+1)*C/g)."""
    dim, n, g = 16, 3, 4
    module = _randomise(FreqScale(dim, mode=mode, num_filters=n, groups=g, size=6))
    z = torch.randn(2, dim, *hw)
    bases = module.complex_weights.detach()
    h, w = hw
    if mode == 'static':
        weight = _bicubic(bases[None], (h, w // 2 + 1))
    else:
        mlp = module.reweight
        pooled = z.mean((2, 3))
        r = torch.tanh(mlp.fc2(mlp.act(mlp.fc1(pooled))))
        groups = g if mode == 'group' else 1
        r = r.view(2, groups, n)
        per_group = []
        for j in range(groups):
            mixed = sum(r[:, j, i, None, None, None] * bases[i] for i in range(n))
            per_group.append(mixed)
        weight = _bicubic(torch.cat(per_group, dim=1), (h, w // 2 + 1))
    expected = torch.fft.irfft2(torch.fft.rfft2(z, norm='ortho') * weight, s=hw, norm='ortho')
    with torch.no_grad():
        torch.testing.assert_close(module(z), expected, rtol=1e-4, atol=1e-5)


SHAPES = [(1, 1, 1), (2, 7, 9), (1, 14, 14), (2, 15, 8), (1, 1, 6), (1, 5, 1)]


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('batch,h,w', SHAPES)
def test_freq_scale_shapes_and_grads(mode, batch, h, w):
    module = FreqScale(32, mode=mode, num_filters=2, groups=8, init_scale=0.1)
    z = torch.randn(batch, 32, h, w, requires_grad=True)
    out = module(z)
    assert out.shape == z.shape and out.dtype == z.dtype
    out.square().sum().backward()
    for name, p in list(module.named_parameters()) + [('input', z)]:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize('mode', MODES)
def test_freq_scale_bf16_autocast_cpu(mode):
    module = FreqScale(32, mode=mode, num_filters=2, groups=8, init_scale=0.1)
    z = torch.randn(2, 32, 7, 9)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out_fp32_in = module(z)
        out_bf16_in = module(z.bfloat16())
    assert out_fp32_in.dtype == torch.float32 and out_bf16_in.dtype == torch.bfloat16
    torch.testing.assert_close(out_fp32_in, module(z), rtol=0.05, atol=0.02)
    assert torch.isfinite(out_bf16_in).all()


# --------------------------------------------------------------------------------------------
# Block helper

def test_freq_scale_residual_leaves_prefix_tokens_untouched():
    module = _randomise(FreqScale(16, groups=4, num_filters=2, size=4))
    h, w = 3, 5
    tokens = torch.randn(2, 2 + h * w, 16)
    with torch.no_grad():
        out = freq_scale_residual(module, tokens, (h, w), num_prefix_tokens=2)
        grid = tokens[:, 2:].transpose(1, 2).reshape(2, 16, h, w)
        expected = (module(grid) + grid).flatten(2).transpose(1, 2)
    assert torch.equal(out[:, :2], tokens[:, :2])
    torch.testing.assert_close(out[:, 2:], expected, rtol=0, atol=1e-6)
    assert freq_scale_residual(None, tokens, (h, w), 2) is tokens
    with pytest.raises(ValueError, match='hw_shape'):
        freq_scale_residual(module, tokens, (4, 4), num_prefix_tokens=2)


@pytest.mark.parametrize('hw,prefix', [((1, 1), 1), ((3, 5), 1), ((4, 4), 0)])
def test_fdam_block_shapes_grads_and_autocast(hw, prefix):
    block = FDAMBlock(32, 4, qkv_bias=True, layer_scale_init=0.1, drop_path=0.1,
                      freq_scale=dict(mode='group', num_filters=2, groups=4, size=6,
                                      init_scale=0.1)).train()
    x = torch.randn(2 if prefix else 1, prefix + hw[0] * hw[1], 32, requires_grad=True)
    out = block(x, hw, num_prefix_tokens=prefix)
    assert out.shape == x.shape
    out.square().mean().backward()
    for name, p in list(block.named_parameters()) + [('input', x)]:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = block.eval()(x.detach(), hw, num_prefix_tokens=prefix)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_attinv_shapes_single_token_and_autocast():
    module = AttInvAttention(32, 4)
    for tokens in (1, 2, 17):
        x = torch.randn(1, tokens, 32)
        assert module(x).shape == x.shape
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = module(x)
        assert out.shape == x.shape and torch.isfinite(out).all()


def test_block_with_freq_scale_at_init_is_nearly_the_plain_block():
    fdam = FDAMBlock(32, 4, freq_scale=dict(groups=4)).eval()
    plain = FDAMBlock(32, 4, attn_inv=False).eval()
    plain.load_state_dict({k: v for k, v in fdam.state_dict().items() if k in plain.state_dict()})
    x = torch.randn(2, 1 + 16, 32)
    with torch.no_grad():
        torch.testing.assert_close(fdam(x, (4, 4), 1), plain(x, (4, 4), 1), rtol=0, atol=1e-3)


# --------------------------------------------------------------------------------------------
# Parameter counts (supplementary Table 1; DeiT-S: dim 384, 6 heads, 12 blocks, 24 FreqScales)

@pytest.mark.parametrize('dim,mode,n,g,size', [
    (384, 'static', 4, 16, 14), (384, 'dynamic', 4, 16, 14), (384, 'group', 4, 16, 14),
    (64, 'group', 8, 32, 10), (48, 'dynamic', 2, 1, 7), (32, 'group', 16, 4, 14)])
def test_freq_scale_param_formula_matches_module(dim, mode, n, g, size):
    module = FreqScale(dim, mode=mode, num_filters=n, groups=g, size=size)
    assert freq_scale_num_params(dim, mode, n, g, size) == num_params(module)


@pytest.mark.parametrize('lf,hf,bias', [(True, True, True), (True, False, False),
                                        (False, True, True), (False, False, False)])
def test_attinv_param_formula_matches_module(lf, hf, bias):
    module = AttInvAttention(384, 6, qkv_bias=bias, lf_dy_weight=lf, hf_dy_weight=hf)
    assert attinv_num_params(384, 6, bias, lf, hf) == num_params(module)


@pytest.mark.parametrize('freq_scale', [None, dict(mode='static'), dict(mode='group', groups=8)])
def test_fdam_param_formula_matches_blocks(freq_scale):
    plain = FDAMBlock(64, 4, attn_inv=False)
    fdam = FDAMBlock(64, 4, attn_inv=True, freq_scale=freq_scale)
    assert fdam_num_params(64, 1, 4, True, freq_scale) == num_params(fdam) - num_params(plain)


@pytest.mark.parametrize('freq_scale,table_delta_m', [
    (None, 0.1), (dict(mode='static'), 1.2), (dict(mode='dynamic'), 4.4),
    (dict(mode='group'), 0.5)])
def test_deit_s_param_deltas_near_table_1(freq_scale, table_delta_m):
    delta = fdam_num_params(384, 12, 6, attn_inv=True, freq_scale=freq_scale)
    assert abs(delta / 1e6 - table_delta_m) <= 0.15


def test_deit_s_param_deltas_exact_values():
    assert fdam_num_params(384, 12, 6) == 64_680
    assert fdam_num_params(384, 12, 6, freq_scale=dict(mode='static')) == 64_680 + 24 * 43_008
    assert fdam_num_params(384, 12, 6, freq_scale=dict(mode='dynamic')) == 64_680 + 24 * 181_346
    assert fdam_num_params(384, 12, 6, freq_scale=dict(mode='group')) == 64_680 + 24 * 21_506


# --------------------------------------------------------------------------------------------
# Build-time validation

@pytest.mark.parametrize('build,option', [
    (lambda: AttInvAttention(384, 5), 'num_heads'),
    (lambda: AttInvAttention(384, 0), 'num_heads'),
    (lambda: AttInvAttention(0, 1), 'dim'),
    (lambda: AttInvAttention(64, 4, attn_drop=1.0), 'attn_drop'),
    (lambda: AttInvAttention(64, 4, proj_drop=-0.1), 'proj_drop'),
    (lambda: AttInvAttention(64, 4, qk_scale=0), 'qk_scale'),
    (lambda: AttInvAttention(64, 4, lf_dy_weight='yes'), 'lf_dy_weight'),
    (lambda: AttInvAttention(64, 4, hf_dy_weight=None), 'hf_dy_weight'),
    (lambda: FreqScale(64, mode='spectral'), 'mode'),
    (lambda: FreqScale(384, groups=5), 'groups'),
    (lambda: FreqScale(64, groups=0), 'groups'),
    (lambda: FreqScale(64, num_filters=0), 'num_filters'),
    (lambda: FreqScale(64, size=0), 'size'),
    (lambda: FreqScale(8, groups=4, reweight_ratio=0.0625), 'reweight_ratio'),
    (lambda: FreqScale(64, reweight_ratio=-1), 'reweight_ratio'),
    (lambda: FreqScale(64, init_scale=-1e-5), 'init_scale'),
    (lambda: build_freq_scale(64, dict(mode='group', group=16)), 'unknown keys'),
    (lambda: build_freq_scale(64, 'group'), 'freq_scale'),
    (lambda: FDAMBlock(64, 4, attn_inv=1), 'attn_inv'),
    (lambda: FDAMBlock(64, 4, freq_scale=dict(mode='Group')), 'mode'),
    (lambda: FDAMBlock(64, 4, drop_path=1.5), 'drop_path'),
])
def test_invalid_options_raise_at_build(build, option):
    with pytest.raises(ValueError, match=option):
        build()


def test_mode_error_lists_allowed_values():
    with pytest.raises(ValueError, match="'static', 'dynamic', 'group'"):
        FreqScale(64, mode='x')


def test_star_relu_is_exported():
    act = StarReLU()
    assert torch.equal(act(torch.tensor([-1., 2.])), torch.tensor([0., 4.]))
