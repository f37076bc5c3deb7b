"""Opt-in parity with the authors' FDAM release (docs/fdam.md, "Parity with the release").

Set ``MMFREQ_RELEASE_DIR`` to a checkout of the FDAM release (https://github.com/Linwei-Chen/FDAM),
or to several paths separated by ``os.pathsep`` (the FDConv parity test reads the same variable);
the FDAM checkout is recognised by ``FDAM_mmseg/mmcv_custom/deit_fdam.py``. The authors' modules
are imported from there, never copied: their third-party imports that our stack lacks (timm
helpers, mmcv 1.x / mmseg 0.x registries and utilities) get minimal stand-ins in ``sys.modules``
while their files load, and ``sys.modules`` is restored afterwards.

Compared, at DeiT-III-B width on the token grids of a 512x512 and a 384x640 image:
``AttentionwithAttInv`` vs :class:`mmfreq.layers.AttInvAttention`, ``GroupDynamicScale`` vs
:class:`mmfreq.layers.FreqScale`, and ``vit_models_freq`` + ``SimpleMultiLevelNeck`` (built as the
released config builds them) vs :class:`DeiT3FDAM` + :class:`DeiT3FDAMNeck`: their state dict loads
into ours with ``strict=True`` and the fp32 outputs agree to 1e-4 relative (max abs difference over
max abs output), in eval mode and, where the computation is deterministic, in train mode. Also the
pre-training checkpoint path: the release's ``init_weights(pretrained)`` and our
``load_pretrained_state_dict`` give the same weights from a DeiT-III ImageNet checkpoint.
"""
import importlib
import importlib.util
import logging
import os
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from mmfreq.release_modules import (NoOpRegistry, extended_module, load_release_file,
                                     release_checkout, swapped_modules)

MARKER = Path('FDAM_mmseg') / 'mmcv_custom' / 'deit_fdam.py'
RTOL = 1e-4
SIZES = [(512, 512), (384, 640)]  # token grids 32x32 (the stored pos_embed grid) and 24x40

ROOT = release_checkout(MARKER)
pytestmark = pytest.mark.skipif(
    ROOT is None,
    reason=f'opt-in: set MMFREQ_RELEASE_DIR to a checkout of the FDAM release (github.com/Linwei-Chen/FDAM; '
           f'several paths separated by {os.pathsep!r}) to compare with the authors\' code')


# --------------------------------------------------------------------------------------------
# stand-ins for third-party modules the release imports and our stack does not have

def _module(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


class _TimmMlp(nn.Module):
    """timm 0.4's ``Mlp``: fc1 -> act -> drop -> fc2 -> drop."""

    def __init__(self, in_features, hidden_features=None, out_features=None,
                 act_layer=nn.GELU, drop=0.):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features or in_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features or in_features, out_features or in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class _TimmDropPath(nn.Module):
    """timm's ``DropPath`` (identity in eval mode; the comparisons in train mode use rate 0)."""

    def __init__(self, drop_prob=0.):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        if not self.training or not self.drop_prob:
            return x
        keep = 1 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


def _to_2tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _einops_rearrange(*args, **kwargs):
    raise NotImplementedError('einops stand-in: only the release\'s unused FlashAttn needs it')


def _stand_ins():
    from mmengine.model import BaseModule
    from mmengine.model import weight_init
    from mmseg.models.utils import resize
    registry = NoOpRegistry()
    timm_layers = _module('timm.models.layers', DropPath=_TimmDropPath, to_2tuple=_to_2tuple,
                          trunc_normal_=nn.init.trunc_normal_)
    timm_vit = _module('timm.models.vision_transformer', Mlp=_TimmMlp)
    stand_ins = {
        'timm': _module('timm'), 'timm.models': _module('timm.models'),
        'timm.models.layers': timm_layers, 'timm.models.vision_transformer': timm_vit,
        'einops': _module('einops', rearrange=_einops_rearrange),
        'mmcv.runner': _module('mmcv.runner', BaseModule=BaseModule),
        'mmcv.cnn': extended_module('mmcv.cnn', xavier_init=weight_init.xavier_init),
        'mmcv.cnn.utils': _module('mmcv.cnn.utils'),
        'mmcv.cnn.utils.weight_init': _module(
            'mmcv.cnn.utils.weight_init', constant_init=weight_init.constant_init,
            normal_init=weight_init.normal_init, trunc_normal_init=weight_init.trunc_normal_init),
        'mmseg.models.builder': _module('mmseg.models.builder', BACKBONES=registry,
                                        NECKS=registry),
        'mmseg.utils': extended_module('mmseg.utils',
                                 get_root_logger=lambda: logging.getLogger('fdam_release')),
        'mmseg.ops': _module('mmseg.ops', resize=resize),
    }
    # only what is really missing (or, for the registries, what would register into ours)
    missing = {}
    for name, module in stand_ins.items():
        if name in ('mmseg.models.builder', 'mmcv.cnn', 'mmseg.utils'):
            missing[name] = module
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            missing[name] = module
    return missing


@pytest.fixture(scope='module')
def release():
    """The authors' ``deit_fdam`` and ``simple_multilevel_neck`` modules."""
    import mmcv.ops.carafe  # noqa: F401  (real modules the release imports, loaded first)
    stand_ins = _stand_ins()
    saved = {name: sys.modules.get(name) for name in stand_ins}
    with swapped_modules(stand_ins):
        deit = load_release_file(ROOT / 'FDAM_mmseg/mmcv_custom/deit_fdam.py',
                                 '_fdam_release_deit')
        neck = load_release_file(ROOT / 'FDAM_mmseg/mmcv_custom/simple_multilevel_neck.py',
                                 '_fdam_release_neck')
    return types.SimpleNamespace(deit=deit, neck=neck, stand_ins=stand_ins, saved=saved)


def test_sys_modules_are_restored(release):
    for name in release.stand_ins:
        assert sys.modules.get(name) is release.saved.get(name), name
    assert '_fdam_release_deit' not in sys.modules
    from mmseg.models.builder import BACKBONES
    assert 'vit_models_freq' not in BACKBONES  # nothing registered into the real registry


# --------------------------------------------------------------------------------------------
# comparisons

def _rel_err(ours, theirs):
    return ((ours - theirs).abs().max() / theirs.abs().max()).item()


def _randomize_(module, seed):
    """Make every FDAM term (and layer scale) matter; PyTorch's init leaves them tiny."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.endswith(('lf_gamma', 'hf_gamma', 'complex_weights')):
                param.copy_(0.5 * torch.randn(param.shape, generator=gen))
            elif name.endswith(('gamma_1', 'gamma_2')):
                param.copy_(0.3 * torch.randn(param.shape, generator=gen))
            elif name.endswith('pos_embed'):
                param.copy_(0.1 * torch.randn(param.shape, generator=gen))
            elif name.endswith(('.scale', '.bias')) and param.numel() == 1:  # StarReLU
                param.add_(0.1 * torch.randn(param.shape, generator=gen))
        for buffer_name, buffer in module.named_buffers():
            if buffer_name.endswith('running_mean'):
                buffer.copy_(0.1 * torch.randn(buffer.shape, generator=gen))
            elif buffer_name.endswith('running_var'):
                buffer.copy_(0.5 + torch.rand(buffer.shape, generator=gen))


ERRORS = {}


@pytest.fixture(scope='module', autouse=True)
def _print_errors():
    yield
    if ERRORS:
        print('\nFDAM release parity, max relative error (max |ours - theirs| / max |theirs|):')
        for key, value in sorted(ERRORS.items()):
            print(f'  {key}: {value:.2e}')


@pytest.mark.parametrize('hw', SIZES)
@pytest.mark.parametrize('mode', ['eval', 'train'])
def test_attinv_attention_matches_the_release(release, hw, mode):
    from mmfreq.layers import AttInvAttention
    torch.manual_seed(0)
    theirs = release.deit.AttentionwithAttInv(768, num_heads=12, qkv_bias=True)
    _randomize_(theirs, 1)
    ours = AttInvAttention(768, 12, qkv_bias=True)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    for module in (theirs, ours):
        module.train(mode == 'train')
    x = torch.randn(2, hw[0] // 16 * (hw[1] // 16), 768)
    with torch.no_grad():
        err = _rel_err(ours(x), theirs(x))
    ERRORS[f'AttentionwithAttInv {hw[0]}x{hw[1]} {mode}'] = err
    assert err <= RTOL


@pytest.mark.parametrize('hw', SIZES)
@pytest.mark.parametrize('mode', ['eval', 'train'])
def test_group_dynamic_scale_matches_the_release(release, hw, mode):
    from mmfreq.layers import FreqScale
    torch.manual_seed(0)
    theirs = release.deit.GroupDynamicScale(dim=768, expansion_ratio=1,
                                            reweight_expansion_ratio=.0625, group=16,
                                            num_filters=4, size=14)
    _randomize_(theirs, 2)
    ours = FreqScale(768, mode='group', num_filters=4, groups=16, size=14,
                     reweight_ratio=0.0625)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    for module in (theirs, ours):
        module.train(mode == 'train')
    x = torch.randn(2, 768, hw[0] // 16, hw[1] // 16)
    with torch.no_grad():
        err = _rel_err(ours(x), theirs(x))
    ERRORS[f'GroupDynamicScale {hw[0]}x{hw[1]} {mode}'] = err
    assert err <= RTOL


def _release_backbone_and_neck(release, drop_path_rate=0.15, **overrides):
    """Built as the released config builds them (its keys plus the base config's that
    ``vit_models_freq`` reads: qkv_bias, drop rates, out_indices, patch_size)."""
    backbone = release.deit.vit_models_freq(
        img_size=512, pretrain_img_size=224, use_simple_fpn=False, with_fpn=False,
        drop_path_rate=drop_path_rate, output_dtype='float32', patch_size=16, qkv_bias=True,
        drop_rate=0.0, attn_drop_rate=0.0, out_indices=(2, 5, 8, 11), **overrides)
    neck = release.neck.SimpleMultiLevelNeck(in_channels=overrides.get('embed_dim', 768),
                                              patch_size=16)
    return backbone, neck


def _ours(**overrides):
    from mmfreq.models.deit3_fdam import DeiT3FDAM, DeiT3FDAMNeck
    dims = overrides.get('embed_dims', 768)
    return DeiT3FDAM(img_size=512, **overrides), DeiT3FDAMNeck(dims)


@pytest.mark.parametrize('mode', ['eval', 'train'])
def test_backbone_with_neck_matches_the_release(release, mode):
    """Train mode runs with drop path 0 (random masks are not comparable); BN then normalises
    with batch statistics in both."""
    torch.manual_seed(0)
    rate = 0.15 if mode == 'eval' else 0.
    their_backbone, their_neck = _release_backbone_and_neck(release, drop_path_rate=rate)
    _randomize_(their_backbone, 3)
    _randomize_(their_neck, 4)
    our_backbone, our_neck = _ours(drop_path_rate=rate)
    our_backbone.load_state_dict(their_backbone.state_dict(), strict=True)
    our_neck.load_state_dict(their_neck.state_dict(), strict=True)
    for module in (their_backbone, their_neck, our_backbone, our_neck):
        module.train(mode == 'train')
    for hw in SIZES:
        x = torch.randn(2, 3, *hw)
        with torch.no_grad():
            theirs = their_neck(their_backbone(x))
            ours = our_neck(our_backbone(x))
        assert [o.shape for o in ours] == [t.shape for t in theirs]
        err = max(_rel_err(o, t) for o, t in zip(ours, theirs))
        ERRORS[f'vit_models_freq + SimpleMultiLevelNeck {hw[0]}x{hw[1]} {mode}'] = err
        assert err <= RTOL


@pytest.mark.parametrize('tokens', [196, 197])
def test_pretraining_checkpoint_loads_as_in_the_release(release, tmp_path, tokens):
    """A DeiT-III ImageNet checkpoint (``model``: 14x14 pos_embed, cls_token, classifier; or a
    ViT-style 197-token pos_embed): the release's init and ours give the same weights and the
    same missing / unexpected keys. Narrow (C = 64, 2 blocks) to stay small."""
    torch.manual_seed(0)
    small = dict(embed_dim=64, depth=2, num_heads=2)
    template, _ = _release_backbone_and_neck(release, **small)
    gen = torch.Generator().manual_seed(5)
    plain = ('patch_embed.', 'norm1.', 'norm2.', 'attn.qkv.', 'attn.proj.', 'mlp.', 'gamma_')
    imagenet = {k: torch.randn(v.shape, generator=gen) for k, v in template.state_dict().items()
                if k != 'pos_embed' and any(p in k for p in plain)}
    imagenet.update(pos_embed=torch.randn(1, tokens, 64, generator=gen),
                    cls_token=torch.randn(1, 1, 64, generator=gen),
                    **{'norm.weight': torch.ones(64), 'norm.bias': torch.zeros(64),
                       'head.weight': torch.randn(10, 64, generator=gen),
                       'head.bias': torch.zeros(10)})
    path = tmp_path / 'deit_3_small.pth'
    torch.save({'model': imagenet}, path)
    theirs, _ = _release_backbone_and_neck(release, pretrained=str(path), **small)
    ours, _ = _ours(embed_dims=64, depth=2, num_heads=2, out_indices=(0, 1))
    report = ours.load_pretrained_state_dict(dict(imagenet))
    their_state = theirs.state_dict()
    for key in imagenet.keys() & their_state.keys():
        err = _rel_err(ours.state_dict()[key], their_state[key])
        assert err <= 1e-6, key
    ERRORS[f'pretrained pos_embed ({tokens} tokens -> 32x32)'] = _rel_err(
        ours.state_dict()['pos_embed'], their_state['pos_embed'])
    assert set(report['unexpected']) == imagenet.keys() - their_state.keys()
    assert set(report['missing']) == their_state.keys() - imagenet.keys()
