"""mmseg backbones with FDAM (docs/fdam.md): ViT (DeiT) with FDAM switches, the release's
DeiT-III + FDAM backbone and neck, SegFormer MiT with FDAM, and the layer-wise lr decay optimizer
constructor."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import build_optim_wrapper
from mmseg.models.backbones.mit import MixVisionTransformer
from mmseg.models.backbones.vit import TransformerEncoderLayer, VisionTransformer
from torch import nn

import mmfreq  # noqa: F401  (registers the modules)
from mmfreq.layers import AttInvAttention
from mmfreq.layers.attinv_attention import high_frequency_gate
from mmfreq.models.deit3_fdam import DeiT3FDAM, DeiT3FDAMNeck, pos_embed_grid, resize_pos_embed
from mmfreq.models.layer_decay_optim import ViTLayerDecayOptimizerConstructor, vit_layer_id
from mmfreq.models.mit_fdam import AttInvEfficientMultiheadAttention, MixVisionTransformerFDAM
from mmfreq.models.vit_fdam import (AttInvMultiheadAttention, FDAMTransformerEncoderLayer,
                                    VisionTransformerFDAM)

GROUP = dict(mode='group', num_filters=4, groups=16, size=14, reweight_ratio=0.0625)
TINY_VIT = dict(img_size=(64, 64), embed_dims=32, num_layers=2, num_heads=2, out_indices=(0, 1),
                drop_path_rate=0.1)
TINY_MIT = dict(embed_dims=16, num_layers=[1, 1, 1, 1], num_heads=[1, 2, 5, 8],
                drop_path_rate=0.1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _fdam_keys(keys):
    return {k for k in keys if any(s in k for s in (
        'dy_freq', 'lf_gamma', 'hf_gamma', 'freq_scale_1', 'freq_scale_2'))}


def _silence_fdam_(model):
    """Zero AttInv gammas and FreqScale weights: FDAM then adds exactly nothing."""
    for module in model.modules():
        if hasattr(module, 'lf_gamma'):
            module.lf_gamma.data.zero_()
            module.hf_gamma.data.zero_()
        if hasattr(module, 'complex_weights'):
            module.complex_weights.data.zero_()


def _randomize_attinv_(attn):
    with torch.no_grad():
        attn.lf_gamma.normal_()
        attn.hf_gamma.normal_()
        for linear in (attn.dy_freq, attn.dy_freq_2):
            linear.weight.normal_(std=0.5)
            linear.bias.normal_()


# --------------------------------------------------------------------------------------------
# ViT (mmseg VisionTransformer) with FDAM switches

def test_vit_fdam_off_is_the_stock_model():
    stock = VisionTransformer(**TINY_VIT)
    stock.init_weights()
    model = VisionTransformerFDAM(**TINY_VIT)
    assert all(type(layer) is TransformerEncoderLayer for layer in model.layers)
    assert {k: v.shape for k, v in model.state_dict().items()} == \
        {k: v.shape for k, v in stock.state_dict().items()}
    model.load_state_dict(stock.state_dict(), strict=True)
    stock.eval(), model.eval()
    x = torch.randn(2, 3, 64, 48)
    for a, b in zip(stock(x), model(x)):
        assert torch.equal(a, b)


def test_vit_fdam_loads_stock_checkpoint_and_starts_as_stock():
    stock = VisionTransformer(**TINY_VIT)
    stock.init_weights()
    model = VisionTransformerFDAM(**TINY_VIT, attn_inv=True, freq_scale=GROUP)
    result = model.load_state_dict(stock.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert set(result.missing_keys) == _fdam_keys(model.state_dict())
    assert {'layers.0.attn.dy_freq.weight', 'layers.1.freq_scale_2.complex_weights'} \
        <= set(result.missing_keys)
    stock.eval(), model.eval()
    x = torch.randn(2, 3, 64, 48)
    # at init FDAM is a ~1e-5 perturbation; with its weights zeroed it is exactly the stock model
    for a, b in zip(stock(x), model(x)):
        assert torch.allclose(a, b, atol=1e-2)
    _silence_fdam_(model)
    for a, b in zip(stock(x), model(x)):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize('qkv_bias', [True, False])
def test_vit_attinv_matches_the_release_attention(qkv_bias):
    """The mmcv-wrapped AttInv (stock in_proj / out_proj weights) computes the release's AttInv."""
    dim, heads = 32, 4
    ours = AttInvMultiheadAttention(dim, heads, attn_inv=True, batch_first=True, bias=qkv_bias)
    _randomize_attinv_(ours)
    release = AttInvAttention(dim, heads, qkv_bias=qkv_bias)
    out_bias = ours.attn.out_proj.bias  # nn.MultiheadAttention(bias=False) has none
    state = {'qkv.weight': ours.attn.in_proj_weight, 'proj.weight': ours.attn.out_proj.weight,
             'proj.bias': torch.zeros(dim) if out_bias is None else out_bias}
    if qkv_bias:
        state['qkv.bias'] = ours.attn.in_proj_bias
    for name in ('dy_freq.weight', 'dy_freq.bias', 'dy_freq_2.weight', 'dy_freq_2.bias',
                 'lf_gamma', 'hf_gamma', 'dy_freq_starrelu.scale', 'dy_freq_starrelu.bias'):
        state[name] = ours.state_dict()[name]
    release.load_state_dict(state, strict=True)
    ours.eval(), release.eval()
    x = torch.randn(2, 13, dim)
    assert torch.allclose(ours.branch(x), release(x), atol=1e-5)
    # mmcv contract: identity + dropout_layer(branch)
    assert torch.allclose(ours(x), x + release(x), atol=1e-5)


def test_vit_class_token_is_never_frequency_scaled():
    layer = FDAMTransformerEncoderLayer(32, 2, 128, freq_scale=dict(GROUP, init_scale=1.0),
                                        num_prefix_tokens=1)
    layer.eval()
    with torch.no_grad():  # a FreqScale that visibly changes the patch tokens
        for param in list(layer.freq_scale_1.parameters()) + list(layer.freq_scale_2.parameters()):
            param.normal_()
    seen = []
    layer.freq_scale_1.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
    x = torch.randn(2, 1 + 4 * 3, 32)
    out = layer(x, hw_shape=(4, 3))
    assert seen == [(2, 32, 4, 3)]  # only the 12 patch tokens, as their 4x3 grid
    fs1, fs2 = layer.freq_scale_1, layer.freq_scale_2
    layer.freq_scale_1 = layer.freq_scale_2 = None
    plain = layer(x, hw_shape=(4, 3))
    layer.freq_scale_1, layer.freq_scale_2 = fs1, fs2
    assert torch.equal(out[:, 0], plain[:, 0])  # class token: as without FreqScale
    assert not torch.allclose(out[:, 1:], plain[:, 1:], atol=1e-3)


def test_vit_fdam_passes_the_patch_grid_of_non_square_inputs():
    model = VisionTransformerFDAM(**TINY_VIT, freq_scale=GROUP)
    seen = []
    model.layers[1].freq_scale_2.register_forward_hook(
        lambda m, i, o: seen.append(tuple(i[0].shape[-2:])))
    model(torch.randn(1, 3, 64, 96))
    model(torch.randn(1, 3, 80, 48))
    assert seen == [(4, 6), (5, 3)]
    twin = copy.deepcopy(model)  # e.g. an EMA copy: its layers follow its own forward
    twin(torch.randn(1, 3, 32, 64))
    assert twin.layers[0].hw_shape == (2, 4) and model.layers[0].hw_shape == (5, 3)


def test_vit_fdam_trains_with_checkpointing_and_drop_path():
    model = VisionTransformerFDAM(**dict(TINY_VIT, with_cp=True), attn_inv=True,
                                  freq_scale=GROUP)
    model.train()
    outs = model(torch.randn(2, 3, 32, 48))
    assert [tuple(o.shape) for o in outs] == [(2, 32, 2, 3)] * 2
    sum(o.square().mean() for o in outs).backward()
    for name in ('layers.0.attn.hf_gamma', 'layers.0.attn.dy_freq.weight',
                 'layers.1.freq_scale_1.complex_weights',
                 'layers.1.freq_scale_2.reweight.fc1.weight'):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


@pytest.mark.parametrize('options, message', [
    (dict(attn_inv='yes'), 'attn_inv'),
    (dict(freq_scale=dict(mode='wavelet')), "mode must be one of ('static', 'dynamic', 'group')"),
    (dict(freq_scale=dict(mode='group', groups=3)), 'groups must divide dim'),
    (dict(freq_scale=dict(kind='group')), 'unknown keys'),
    (dict(freq_scale='group'), 'freq_scale must be None or a dict'),
])
def test_vit_fdam_bad_options_raise_at_build(options, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(')', r'\)')):
        VisionTransformerFDAM(**TINY_VIT, **options)


# --------------------------------------------------------------------------------------------
# SegFormer MiT with FDAM

def test_mit_fdam_off_is_the_stock_model():
    stock = MixVisionTransformer(**TINY_MIT)
    stock.init_weights()
    model = MixVisionTransformerFDAM(**TINY_MIT)
    model.load_state_dict(stock.state_dict(), strict=True)
    assert set(model.state_dict()) == set(stock.state_dict())
    stock.eval(), model.eval()
    x = torch.randn(2, 3, 64, 48)
    for a, b in zip(stock(x), model(x)):
        assert torch.equal(a, b)


def test_mit_fdam_loads_stock_checkpoint_and_matches_with_fdam_silenced():
    stock = MixVisionTransformer(**TINY_MIT)
    stock.init_weights()
    model = MixVisionTransformerFDAM(**TINY_MIT, attn_inv=True, freq_scale=GROUP)
    result = model.load_state_dict(stock.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert set(result.missing_keys) == _fdam_keys(model.state_dict())
    assert 'layers.0.1.0.attn.dy_freq.weight' in result.missing_keys
    _silence_fdam_(model)
    stock.eval(), model.eval()
    x = torch.randn(2, 3, 64, 72)
    for a, b in zip(stock(x), model(x)):
        assert torch.allclose(a, b, atol=1e-5)
    model.train()
    sum(o.square().mean() for o in model(x)).backward()
    assert model.layers[0][1][0].attn.hf_gamma.grad.abs().sum() > 0


def _mit_attention(dim, heads, sr_ratio):
    attn = AttInvEfficientMultiheadAttention(dim, heads, qkv_bias=True, sr_ratio=sr_ratio,
                                             attn_inv=True)
    _randomize_attinv_(attn)
    return attn.eval()


def test_mit_attinv_without_reduction_is_the_release_attinv():
    dim, heads = 32, 2
    ours = _mit_attention(dim, heads, sr_ratio=1)
    release = AttInvAttention(dim, heads, qkv_bias=True)
    state = {'qkv.weight': ours.attn.in_proj_weight, 'qkv.bias': ours.attn.in_proj_bias,
             'proj.weight': ours.attn.out_proj.weight, 'proj.bias': ours.attn.out_proj.bias}
    state.update({k: v for k, v in ours.state_dict().items()
                  if k.startswith(('dy_freq', 'lf_gamma', 'hf_gamma'))})
    release.load_state_dict(state, strict=True)
    x = torch.randn(2, 6 * 5, dim)
    assert torch.allclose(ours.branch(x, (6, 5)), release(x), atol=1e-5)


@pytest.mark.parametrize('hw', [(8, 8), (9, 7)])
def test_mit_attinv_with_reduction_matches_the_documented_definition(hw):
    """``y' = y + y*s_lf*lf_gamma + s_hf*(E - Ã) V_full * hf_gamma`` with ``Ã`` the N x N matrix
    spreading each reduced key's weight over its r x r cell (built explicitly here)."""
    dim, heads, r = 32, 2, 2
    attn = _mit_attention(dim, heads, sr_ratio=r)
    h, w = hw
    x = torch.randn(2, h * w, dim)
    out = attn.branch(x, hw)

    hd = dim // heads
    w_q, w_k, w_v = attn.attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attn.attn.in_proj_bias.chunk(3)
    x_kv = attn.norm(attn.sr(x.transpose(1, 2).reshape(2, dim, h, w)).flatten(2).transpose(1, 2))
    split = lambda t: t.view(2, t.shape[1], heads, hd).transpose(1, 2)  # noqa: E731
    q, k, v = split(F.linear(x, w_q, b_q)), split(F.linear(x_kv, w_k, b_k)), \
        split(F.linear(x_kv, w_v, b_v))
    a = ((q @ k.transpose(-2, -1)) / math.sqrt(hd)).softmax(-1)  # (2, heads, N, M)
    hr, wr = h // r, w // r
    cell = torch.full((h, w), -1)
    for i in range(hr * r):
        for j in range(wr * r):
            cell[i, j] = (i // r) * wr + j // r
    spread = torch.zeros(h * w, hr * wr)
    covered = cell.flatten() >= 0
    spread[covered, cell.flatten()[covered]] = 1 / r ** 2
    a_full = a @ spread.T  # (2, heads, N, N), rows sum to 1
    assert torch.allclose(a_full.sum(-1), torch.ones(()), atol=1e-5)
    v_full = split(F.linear(x, w_v, b_v))
    y = a @ v
    high = v_full - a_full @ v_full
    feat = attn.dy_freq_starrelu(x)
    s_lf = torch.tanh(attn.dy_freq_2(feat)).transpose(1, 2).unsqueeze(-1)
    s_hf = high_frequency_gate(attn.dy_freq(feat)).transpose(1, 2).unsqueeze(-1)
    lf_gamma = attn.lf_gamma.view(heads, 1, hd)
    hf_gamma = attn.hf_gamma.view(heads, 1, hd)
    ref = y + y * s_lf * lf_gamma + s_hf * high * hf_gamma
    ref = attn.attn.out_proj(ref.transpose(1, 2).reshape(2, h * w, dim))
    assert torch.allclose(out, ref, atol=1e-5)


def test_mit_attinv_high_pass_removes_the_dc():
    """On a constant token map the high-pass term vanishes: AttInv adds only the low-pass term."""
    dim, heads = 32, 2
    attn = _mit_attention(dim, heads, sr_ratio=4)
    x = torch.randn(1, 1, dim).expand(2, 8 * 8, dim).contiguous()
    with torch.no_grad():
        attn.lf_gamma.zero_()
        attn.hf_gamma.fill_(100.)
    out = attn.branch(x, (8, 8))
    attn.attn_inv = False  # stock spatial-reduction attention on the same weights
    plain = attn.branch(x, (8, 8))
    assert torch.allclose(out, plain, atol=1e-4)
    x_var = torch.randn(2, 64, dim)  # and it does not vanish on a varying map
    attn.attn_inv = True
    out_var = attn.branch(x_var, (8, 8))
    attn.attn_inv = False
    assert not torch.allclose(out_var, attn.branch(x_var, (8, 8)), atol=1e-2)


def test_mit_fdam_bad_options_raise_at_build():
    with pytest.raises(ValueError, match='groups must divide dim'):  # stage widths 16, 32, 80, 128
        MixVisionTransformerFDAM(**TINY_MIT, freq_scale=dict(GROUP, groups=32))
    with pytest.raises(ValueError, match='attn_inv'):
        MixVisionTransformerFDAM(**TINY_MIT, attn_inv=1)


# --------------------------------------------------------------------------------------------
# DeiT-III + FDAM (the release's backbone and neck; layout: docs/fdam.md)

TINY_DEIT3 = dict(img_size=64, embed_dims=32, depth=4, num_heads=2, out_indices=(0, 1, 2, 3))


def test_deit3_backbone_and_neck_outputs_on_a_non_square_input():
    model = DeiT3FDAM(**TINY_DEIT3)
    neck = DeiT3FDAMNeck(32, norm_cfg=dict(type='BN'))
    model.init_weights()
    model.eval(), neck.eval()
    assert model.pos_embed.shape == (1, 4 * 4, 32)  # the img_size grid, no class-token slot
    outs = model(torch.randn(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(2, 32, 4, 6)] * 4
    assert [tuple(o.shape) for o in neck(outs)] == [(2, 32, 16, 24), (2, 32, 8, 12),
                                                    (2, 32, 4, 6), (2, 32, 2, 3)]
    assert set(neck.state_dict()) == {
        'fpn1.0.weight', 'fpn1.0.bias', 'fpn1.1.weight', 'fpn1.1.bias', 'fpn1.1.running_mean',
        'fpn1.1.running_var', 'fpn1.1.num_batches_tracked', 'fpn1.3.weight', 'fpn1.3.bias',
        'fpn2.0.weight', 'fpn2.0.bias'}
    with pytest.raises(ValueError, match='4 feature maps'):
        neck(outs[:3])


def test_deit3_drop_path_is_the_same_in_every_block():
    model = DeiT3FDAM(**dict(TINY_DEIT3, drop_path_rate=0.15))
    assert [block.drop_path.drop_prob for block in model.blocks] == [0.15] * 4


def test_deit3_pos_embed_grid_and_resize():
    assert pos_embed_grid(196) == (14, False)  # DeiT-III: no class-token slot
    assert pos_embed_grid(197) == (14, True)   # ViT / DeiT: a class-token slot first
    assert pos_embed_grid(1024) == (32, False)
    with pytest.raises(ValueError, match='neither a square'):
        pos_embed_grid(200)
    pos = torch.randn(1, 14 * 14, 8)
    assert resize_pos_embed(pos, (14, 14), (14, 14)) is pos
    resized = resize_pos_embed(pos, (14, 14), (4, 6))
    grid = pos.reshape(1, 14, 14, 8).permute(0, 3, 1, 2)
    ref = F.interpolate(grid, size=(4, 6), mode='bicubic', align_corners=False)
    assert torch.allclose(resized, ref.flatten(2).transpose(1, 2))


def test_deit3_init_keeps_the_release_init_of_the_fdam_parameters():
    """DeiT-III parameters: trunc-normal 0.02; FDAM Linears: PyTorch's default (uniform within
    1/sqrt(fan_in)), as in the release (docs/fdam.md, "Initialisation")."""
    model = DeiT3FDAM(img_size=64, embed_dims=256, depth=2, num_heads=4, out_indices=(0, 1))
    model.init_weights()
    block = model.blocks[1]
    assert abs(block.attn.qkv.weight.std().item() - 0.02) < 0.002
    assert torch.equal(block.attn.qkv.bias, torch.zeros_like(block.attn.qkv.bias))
    for linear in (block.attn.dy_freq, block.attn.dy_freq_2, block.freq_scale_1.reweight.fc1,
                   block.freq_scale_2.reweight.fc2):
        bound = 1 / math.sqrt(linear.in_features)
        assert linear.weight.abs().max() <= bound
        assert linear.weight.std() > 0.8 * bound / math.sqrt(3)  # uniform, not N(0, 0.02)
    assert torch.all(block.attn.lf_gamma == 1e-5) and torch.all(block.gamma_1 == 1e-4)
    assert block.freq_scale_1.complex_weights.abs().max() < 1e-4


def test_deit3_pretrained_init_from_a_segmentor_checkpoint(tmp_path):
    """A release segmentor checkpoint (``backbone.*``) initialises the backbone by name."""
    donor = DeiT3FDAM(**TINY_DEIT3)
    segmentor = {'backbone.' + k: torch.randn_like(v.float()).to(v.dtype)
                 for k, v in donor.state_dict().items()}
    segmentor['decode_head.conv_seg.weight'] = torch.randn(150, 32, 1, 1)
    torch.save({'state_dict': segmentor, 'meta': {}}, tmp_path / 'release_ade20k.pth')
    model = DeiT3FDAM(**TINY_DEIT3, init_cfg=dict(type='Pretrained',
                                                  checkpoint=str(tmp_path / 'release_ade20k.pth')))
    model.init_weights()
    for key, value in model.state_dict().items():
        assert torch.equal(value, segmentor['backbone.' + key]), key
    report = model.load_pretrained_state_dict(segmentor)
    assert report == dict(missing=[], unexpected=[])


@pytest.mark.parametrize('options, message', [
    (dict(out_indices=(2, 5, 8, 12)), 'out_indices'),
    (dict(out_indices=(2, 5, 5, 11)), 'distinct'),
    (dict(attn_inv=None), 'attn_inv'),
    (dict(freq_scale=dict(mode='group', groups=5)), 'groups must divide dim'),
    (dict(drop_path_rate=1.5), 'drop_path_rate'),
    (dict(img_size=(512, 0)), 'img_size'),
    (dict(img_size=8), 'smaller than patch_size'),
])
def test_deit3_bad_options_raise_at_build(options, message):
    with pytest.raises(ValueError, match=message):
        DeiT3FDAM(**dict(dict(embed_dims=32, num_heads=2), **options))


def test_deit3_bad_pretrained_pos_embed_is_named():
    model = DeiT3FDAM(**TINY_DEIT3)
    with pytest.raises(ValueError, match='pos_embed'):
        model.load_pretrained_state_dict({'pos_embed': torch.zeros(1, 51, 32)})


# --------------------------------------------------------------------------------------------
# Layer-wise lr decay

@pytest.mark.parametrize('name, layer_id', [
    ('backbone.pos_embed', 0), ('backbone.cls_token', 0), ('backbone.patch_embed.proj.weight', 0),
    ('backbone.blocks.0.attn.qkv.weight', 1), ('backbone.blocks.11.gamma_2', 12),
    ('backbone.layers.3.ln1.weight', 4), ('backbone.layers.10.attn.attn.in_proj_weight', 11),
    ('neck.fpn1.0.weight', 13), ('backbone.ln1.weight', 13), ('decode_head.conv_seg.bias', 13),
])
def test_vit_layer_id(name, layer_id):
    assert vit_layer_id(name, 12) == layer_id


class _TinySegmentor(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = DeiT3FDAM(img_size=64, embed_dims=32, depth=12, num_heads=2)
        self.neck = DeiT3FDAMNeck(32)
        self.decode_head = nn.Conv2d(32, 4, 1)


def test_release_recipe_learning_rates_and_weight_decay():
    from mmengine.config import Config
    from mmrun import CONFIGS
    cfg = Config.fromfile(CONFIGS / 'fdam' / 'upernet_deit3-b16-fdam_8xb2-160k_ade20k-512x512.py')
    model = _TinySegmentor()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    settings = {}
    for group in wrapper.optimizer.param_groups:
        for param in group['params']:
            settings[id(param)] = (group['lr'], group['weight_decay'])
    assert len(settings) == len(list(model.parameters()))  # every parameter, once
    named = dict(model.named_parameters())
    base, rate = 6e-5, 0.95

    def check(name, lr, wd):
        got_lr, got_wd = settings[id(named[name])]
        assert math.isclose(got_lr, lr, rel_tol=1e-9) and got_wd == wd, (name, got_lr, got_wd)

    check('backbone.pos_embed', base * rate ** 13, 0.)
    check('backbone.patch_embed.proj.weight', base * rate ** 13, 0.01)
    check('backbone.patch_embed.proj.bias', base * rate ** 13, 0.)
    check('backbone.blocks.0.attn.qkv.weight', base * rate ** 12, 0.01)
    check('backbone.blocks.0.attn.qkv.bias', base * rate ** 12, 0.)
    check('backbone.blocks.0.norm1.weight', base * rate ** 12, 0.)
    check('backbone.blocks.0.gamma_1', base * rate ** 12, 0.)
    check('backbone.blocks.0.attn.lf_gamma', base * rate ** 12, 0.)
    check('backbone.blocks.3.freq_scale_1.complex_weights', 2 * base * rate ** 9, 0.01)
    check('backbone.blocks.3.freq_scale_2.reweight.fc1.weight', 2 * base * rate ** 9, 0.01)
    check('backbone.blocks.3.freq_scale_2.reweight.act.scale', 2 * base * rate ** 9, 0.)
    check('backbone.blocks.11.mlp.fc1.weight', base * rate, 0.01)
    check('neck.fpn1.0.weight', base, 0.01)
    check('neck.fpn1.1.weight', base, 0.)
    check('decode_head.weight', base, 0.01)
    check('decode_head.bias', base, 0.)

    def release_rule(name, param):  # the release's constructor, as docs/fdam.md states it
        if name == 'backbone.pos_embed' or name.startswith('backbone.patch_embed'):
            layer_id = 0
        elif name.startswith('backbone.blocks.'):
            layer_id = int(name.split('.')[2]) + 1
        else:
            layer_id = 13
        decay = 0. if param.dim() == 1 or name.endswith('.bias') else 0.01
        if 'pos_embed' in name or 'norm' in name:
            decay = 0.
        lr_mult = 2. if 'freq_scale' in name else 1.
        return base * rate ** (13 - layer_id) * lr_mult, decay

    for name, param in named.items():
        lr, wd = release_rule(name, param)
        got_lr, got_wd = settings[id(param)]
        assert math.isclose(got_lr, lr, rel_tol=1e-9) and got_wd == wd, (name, got_lr, got_wd)


@pytest.mark.parametrize('paramwise, message', [
    (dict(layer_decay_rate=0.9), 'num_layers'),
    (dict(num_layers=12, layer_decay_rate=1.5), 'layer_decay_rate'),
    (dict(num_layers=12, layer_decay_rate=0.9, decay_type='stage'), 'unknown keys'),
    (dict(num_layers=12, layer_decay_rate=0.9, custom_keys={'norm': dict(lr=1)}), 'custom_keys'),
    (dict(num_layers=12, layer_decay_rate=0.9, flat_decay_mult=-1), 'flat_decay_mult'),
])
def test_layer_decay_bad_options_raise(paramwise, message):
    with pytest.raises(ValueError, match=message):
        ViTLayerDecayOptimizerConstructor(dict(type='OptimWrapper',
                                               optimizer=dict(type='AdamW', lr=1e-4)), paramwise)


def test_layer_decay_refuses_blocks_beyond_num_layers():
    constructor = ViTLayerDecayOptimizerConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.1)),
        dict(num_layers=4, layer_decay_rate=0.9))
    with pytest.raises(ValueError, match='num_layers'):
        constructor(_TinySegmentor())


# --------------------------------------------------------------------------------------------
# mixed precision (CPU bf16 autocast here; the same code paths run under CUDA autocast)

@pytest.mark.parametrize('build', [
    lambda: VisionTransformerFDAM(**TINY_VIT, attn_inv=True, freq_scale=GROUP),
    lambda: MixVisionTransformerFDAM(**TINY_MIT, attn_inv=True, freq_scale=GROUP),
    lambda: DeiT3FDAM(**TINY_DEIT3),
], ids=['vit', 'mit', 'deit3'])
def test_fdam_backbones_under_bf16_autocast(build):
    model = build()
    x = torch.randn(2, 3, 64, 48)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(x)
        loss = sum(o.float().square().mean() for o in outs)
    loss.backward()
    assert all(torch.isfinite(o.float()).all() for o in outs)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
