"""Semantic segmentation configs (ADE20K, mmseg): every config builds, its parameter count is
printed and checked against the papers, the recipes are those of the papers and releases
(docs/fdam.md), the released DeiT-III + FDAM checkpoint layout loads strictly into the configured
segmentor and computes the reference forward, and tiny variants train with the stock tool on the
demo ADE20K data and evaluate mIoU."""
import functools
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
import mmrun
from mmrun import (CONFIGS, assert_finite_losses, data_options, metric, num_params,
                   short_schedule, train_resume_test)

import mmfreq  # noqa: F401  (registers the models)
from mmfreq.layers.fdam_block import fdam_num_params

FDAM = CONFIGS / 'fdam'
DEIT_S = 'upernet_deit-s16_8xb2-160k_ade20k-512x512.py'
DEIT_S_FDAM = 'upernet_deit-s16-table1-attinv-freqscale-group_8xb2-160k_ade20k-512x512.py'
DEIT3 = 'upernet_deit3-b16-fdam_8xb2-160k_ade20k-512x512.py'
DEIT3_BASE = 'upernet_deit3-b16_8xb2-160k_ade20k-512x512.py'
FDCONV_UPERNET = CONFIGS / 'fdconv' / 'upernet_r50-fdconv_4xb4-160k_ade20k-512x512.py'
STOCK_UPERNET_R50 = 66_516_108  # mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py

GROUP = dict(mode='group', num_filters=4, groups=16)
# config -> (measured parameters, FreqScale of the DeiT-S rows or None, paper figure)
# paper figures: FDConv Table (UPerNet R50 + FDConv: 70M); FDAM supplementary Table 1 (DeiT-S
# 52.1M; deltas over the baseline +0.1M / +1.2M / +4.4M / +0.5M). Tables 2-3, DeiT-III-B and
# SegFormer-B0 give no parameter counts.
SEG_CONFIGS = {
    'fdconv/upernet_r50-fdconv_4xb4-160k_ade20k-512x512.py': (70_073_948, None, dict(total=70.0)),
    'fdam/' + DEIT_S: (52_093_484, None, dict(total=52.1)),
    'fdam/upernet_deit-s16-table1-attinv_8xb2-160k_ade20k-512x512.py':
        (52_158_164, ('attinv', None), dict(delta=0.1)),
    'fdam/upernet_deit-s16-table1-attinv-freqscale-static_8xb2-160k_ade20k-512x512.py':
        (53_190_356, ('attinv', dict(mode='static')), dict(delta=1.2)),
    'fdam/upernet_deit-s16-table1-attinv-freqscale-dynamic_8xb2-160k_ade20k-512x512.py':
        (56_510_468, ('attinv', dict(mode='dynamic', num_filters=4)), dict(delta=4.4)),
    'fdam/' + DEIT_S_FDAM: (52_674_308, ('attinv', GROUP), dict(delta=0.5)),
    'fdam/upernet_deit-s16-table2-fdam-n2_8xb2-160k_ade20k-512x512.py':
        (52_526_852, ('attinv', dict(GROUP, num_filters=2)), {}),
    'fdam/upernet_deit-s16-table2-fdam-n4_8xb2-160k_ade20k-512x512.py':
        (52_674_308, ('attinv', GROUP), {}),
    'fdam/upernet_deit-s16-table2-fdam-n8_8xb2-160k_ade20k-512x512.py':
        (52_969_220, ('attinv', dict(GROUP, num_filters=8)), {}),
    'fdam/upernet_deit-s16-table2-fdam-n16_8xb2-160k_ade20k-512x512.py':
        (53_559_044, ('attinv', dict(GROUP, num_filters=16)), {}),
    'fdam/upernet_deit-s16-table3-fdam-g4_8xb2-160k_ade20k-512x512.py':
        (53_420_804, ('attinv', dict(GROUP, groups=4)), {}),
    'fdam/upernet_deit-s16-table3-fdam-g8_8xb2-160k_ade20k-512x512.py':
        (52_913_924, ('attinv', dict(GROUP, groups=8)), {}),
    'fdam/upernet_deit-s16-table3-fdam-g16_8xb2-160k_ade20k-512x512.py':
        (52_674_308, ('attinv', GROUP), {}),
    'fdam/upernet_deit-s16-table3-fdam-g32_8xb2-160k_ade20k-512x512.py':
        (52_582_148, ('attinv', dict(GROUP, groups=32)), {}),
    'fdam/' + DEIT3_BASE: (127_673_132, None, {}),
    'fdam/' + DEIT3: (129_387_668, None, {}),
    'fdam/segformer_mit-b0_8xb2-160k_ade20k-512x512.py': (3_753_718, None, {}),
    'fdam/segformer_mit-b0-fdam_8xb2-160k_ade20k-512x512.py': (3_857_510, None, {}),
}


@functools.lru_cache(maxsize=None)
def _param_count(name: str) -> int:
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    return num_params(MODELS.build(Config.fromfile(CONFIGS / name).model))


@pytest.mark.parametrize('name', list(SEG_CONFIGS))
def test_config_builds_with_its_parameter_count(name):
    count = _param_count(name)
    measured, deit_fdam, paper = SEG_CONFIGS[name]
    baseline = _param_count('fdam/' + DEIT_S) if deit_fdam else None
    line = f'\n{name}: {count:,} parameters ({count / 1e6:.2f}M)'
    if baseline:
        line += f', +{(count - baseline) / 1e6:.3f}M over DeiT-S'
    if paper:
        line += f'; paper: {paper}'
    print(line)
    assert count == measured
    if 'total' in paper:
        assert abs(count / 1e6 - paper['total']) <= 0.1
    if 'delta' in paper:
        assert abs((count - baseline) / 1e6 - paper['delta']) <= 0.15
    if deit_fdam:  # the DeiT-S rows add exactly FDAM's closed-form parameters to the baseline
        attn_inv, freq_scale = deit_fdam
        assert count - baseline == fdam_num_params(384, 12, 6, attn_inv == 'attinv', freq_scale)


def test_fdconv_upernet_adds_fdconv_to_the_stock_model():
    assert _param_count('fdconv/upernet_r50-fdconv_4xb4-160k_ade20k-512x512.py') \
        - STOCK_UPERNET_R50 == 3_557_840  # +3.56M, same as FDConv's detection R50 (+3.6M)


def _cfg(path):
    return Config.fromfile(path)


@pytest.mark.parametrize('name', list(SEG_CONFIGS))
def test_configs_are_thin_files_on_stock_bases_with_the_paper_schedule(name):
    path = CONFIGS / name
    lines = path.read_text().splitlines()
    assert len(lines) <= 45, f'{name}: {len(lines)} lines'
    text = path.read_text()
    assert "_base_ = ['mmseg::" in text or "_base_ = ['./" in text
    cfg = _cfg(path)
    assert cfg.custom_imports == dict(imports=['mmfreq'], allow_failed_imports=False)
    assert cfg.train_cfg.max_iters == 160000
    # 160001: the DeiT-III configs reproduce mmcv's poly rule (test_deit3_lr_schedule_...)
    assert max(s['end'] for s in cfg.param_scheduler) in (160000, 160001)
    assert cfg.crop_size == (512, 512)
    assert cfg.model.decode_head.num_classes == 150
    batch = 4 if '4xb4' in name else 2
    assert cfg.train_dataloader.batch_size == batch  # x 8 (or 4) GPUs = 16 images per iteration


def test_deit_s_table_rows_change_only_the_backbone_switches():
    base = _cfg(FDAM / DEIT_S)
    assert base.model.backbone.type == 'VisionTransformer'  # the stock model
    assert base.model.neck is None  # mmseg's DeiT-S UPerNet: 52.1M, no MultiLevelNeck
    for name, (_, deit_fdam, _) in SEG_CONFIGS.items():
        if not deit_fdam:
            continue
        cfg = _cfg(CONFIGS / name)
        backbone = cfg.model.backbone.to_dict()
        assert backbone.pop('type') == 'VisionTransformerFDAM'
        assert backbone.pop('attn_inv') is True
        freq_scale = backbone.pop('freq_scale', None)
        expected = deit_fdam[1]
        if expected is None:
            assert freq_scale is None
        else:
            assert {k: freq_scale[k] for k in expected} == expected, name
            assert freq_scale.get('size', 14) == 14
        assert backbone == {k: v for k, v in base.model.backbone.items() if k != 'type'}
        for key in ('decode_head', 'auxiliary_head', 'data_preprocessor'):
            assert cfg.model[key] == base.model[key]
        assert cfg.optim_wrapper == base.optim_wrapper
        assert cfg.param_scheduler == base.param_scheduler


def test_deit3_release_recipe():
    """The FDAM release's upernet_deit3-b16_512x512_160k_ade20k_freq.py, item by item
    (docs/fdam.md, "Training recipe")."""
    cfg = _cfg(FDAM / DEIT3)
    optim = cfg.optim_wrapper
    assert optim.optimizer == dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01)
    assert optim.constructor == 'ViTLayerDecayOptimizerConstructor'
    paramwise = optim.paramwise_cfg
    assert (paramwise.num_layers, paramwise.layer_decay_rate) == (12, 0.95)
    assert paramwise.flat_decay_mult == 0.  # no decay for 1-D parameters and biases
    assert paramwise.custom_keys == {'freq_scale': dict(lr_mult=2.),
                                     'pos_embed': dict(decay_mult=0.),
                                     'norm': dict(decay_mult=0.)}
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.train_dataloader.batch_size * 8 == 16  # 8 GPUs x 2 (release: 4 x 4)
    model = cfg.model
    assert model.backbone.type == 'DeiT3FDAM' and model.backbone.img_size == 512
    assert model.backbone.drop_path_rate == 0.15
    assert model.backbone.freq_scale == dict(mode='group', num_filters=4, groups=16, size=14,
                                             reweight_ratio=0.0625)
    assert model.backbone.attn_inv and model.backbone.qkv_bias
    assert model.backbone.layer_scale_init == 1e-4
    assert model.backbone.out_indices == (2, 5, 8, 11)
    assert model.backbone.init_cfg.checkpoint.endswith('/deit_3_base_224_21k.pth')
    assert model.neck == dict(type='DeiT3FDAMNeck', in_channels=768,
                              norm_cfg=dict(type='SyncBN', requires_grad=True))
    assert (model.decode_head.type, model.decode_head.channels) == ('UPerHead', 512)
    assert (model.auxiliary_head.type, model.auxiliary_head.in_index,
            model.auxiliary_head.channels) == ('FCNHead', 3, 256)
    assert model.test_cfg == dict(mode='whole')
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        assert [t['type'] for t in loader.dataset.pipeline] == [
            'LoadImageFromFile', 'Resize', 'ResizeToMultiple', 'LoadAnnotations', 'PackSegInputs']
        assert loader.dataset.pipeline[2].size_divisor == 32


def test_deit3_baseline_is_the_fdam_model_with_fdam_off():
    """The 51.8 row: same layout, neck, heads, data and schedule; the release's baseline file
    differs from its FDAM file only in the weight decay (0.05)."""
    base, fdam = _cfg(FDAM / DEIT3_BASE), _cfg(FDAM / DEIT3)
    backbone = base.model.backbone.to_dict()
    assert (backbone.pop('attn_inv'), backbone.pop('freq_scale')) == (False, None)
    assert backbone == {k: v for k, v in fdam.model.backbone.items()
                        if k not in ('attn_inv', 'freq_scale')}
    for key in ('neck', 'decode_head', 'auxiliary_head', 'test_cfg', 'data_preprocessor'):
        assert base.model[key] == fdam.model[key]
    assert base.optim_wrapper.optimizer.weight_decay == 0.05
    base.optim_wrapper.optimizer.weight_decay = 0.01
    assert base.optim_wrapper == fdam.optim_wrapper
    for key in ('param_scheduler', 'train_dataloader', 'test_dataloader', 'train_cfg'):
        assert base[key] == fdam[key]
    assert _param_count('fdam/' + DEIT3) - _param_count('fdam/' + DEIT3_BASE) == \
        fdam_num_params(768, 12, 12, True, dict(mode='group', num_filters=4, groups=16))


def test_deit3_lr_schedule_is_mmcvs_poly_with_linear_warmup():
    """mmcv 1.x (the release): lr_t = base * (1 - t/160000) * w_t, w_t = 1 - (1 - t/1500)(1 - 1e-6)
    during the first 1500 iterations, 1 after."""
    from mmengine.optim.scheduler import LinearLR, PolyLR
    schedulers = {'LinearLR': LinearLR, 'PolyLR': PolyLR}
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=6e-5)
    built = [schedulers[s['type']](optimizer, **{k: v for k, v in s.items() if k != 'type'})
             for s in _cfg(FDAM / DEIT3).param_scheduler]
    for t in range(3001):
        expected = 6e-5 * (1 - t / 160000) * (1 - max(0, 1 - t / 1500) * (1 - 1e-6))
        assert math.isclose(optimizer.param_groups[0]['lr'], expected, rel_tol=1e-9), t
        optimizer.step()
        for scheduler in built:
            scheduler.step()


def _narrow_deit3_cfg(checkpoint=None):
    """The configured DeiT-III + FDAM segmentor, narrowed (C = 32, 2 heads, heads 16 / 8
    channels); depth, out_indices, grids, FreqScale and every layout rule stay the config's."""
    cfg = _cfg(FDAM / DEIT3)
    cfg.merge_from_dict({
        'model.backbone.embed_dims': 32, 'model.backbone.num_heads': 2,
        'model.backbone.init_cfg.checkpoint': checkpoint or 'absent.pth',
        'model.neck.in_channels': 32, 'model.decode_head.in_channels': [32] * 4,
        'model.decode_head.channels': 16, 'model.auxiliary_head.in_channels': 32,
        'model.auxiliary_head.channels': 8})
    return cfg


def test_full_size_deit3_segmentor_has_the_release_checkpoint_layout():
    from deit3_release_reference import release_segmentor_shapes
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    model = MODELS.build(_cfg(FDAM / DEIT3).model)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == \
        release_segmentor_shapes()


@pytest.mark.parametrize('hw', [(512, 512), (384, 640)])
def test_release_deit3_checkpoint_loads_strictly_into_the_configured_segmentor(hw):
    """A release-layout state dict (written from docs/fdam.md) loads with strict=True into the
    model the config builds, nothing swapped, and the neck features and both heads' logits equal
    the reference forward; 384x640 resizes the stored 32x32 pos_embed grid to 24x40."""
    import deit3_release_reference as ref
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    model = MODELS.build(_narrow_deit3_cfg().model)
    shapes = ref.release_segmentor_shapes(dim=32, heads=2, head_channels=16, aux_channels=8)
    state = ref.random_state(shapes)
    model.load_state_dict(state, strict=True)
    model.eval()
    img = torch.randn(2, 3, *hw, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        feats = model.extract_feat(img)
        logits = model.decode_head(feats)
        aux_logits = model.auxiliary_head(feats)
        ref_feats = ref.reference_neck(state, ref.reference_backbone(state, img, 12, 2))
        ref_logits = ref.reference_uper_head(state, ref_feats)
        ref_aux = ref.reference_fcn_head(state, ref_feats)
    grid = (hw[0] // 16, hw[1] // 16)
    assert [tuple(f.shape[-2:]) for f in feats] == [
        (grid[0] * 4, grid[1] * 4), (grid[0] * 2, grid[1] * 2), grid, (grid[0] // 2, grid[1] // 2)]
    for ours, theirs in zip((*feats, logits, aux_logits), (*ref_feats, ref_logits, ref_aux)):
        scale = theirs.abs().max()
        assert (ours - theirs).abs().max() <= 1e-4 * scale, (ours - theirs).abs().max() / scale
    if hw != (384, 640):
        return
    silenced = dict(state)
    for name in state:  # the FDAM terms really contribute: without them the logits move
        if name.endswith(('lf_gamma', 'hf_gamma', 'complex_weights')):
            silenced[name] = torch.zeros_like(state[name])
    model.load_state_dict(silenced, strict=True)
    with torch.no_grad():
        plain = model.decode_head(model.extract_feat(img))
    assert (plain - logits).abs().max() > 1e-2 * logits.abs().max()


def test_deit3_pretraining_checkpoint_formats_load_with_a_report(tmp_path):
    """facebookresearch DeiT-III (``model``: pos_embed (1, 196, C), cls_token, norm, head) and a
    ViT-style (1, 197, C) pos_embed: the grid is resized bicubically from 14x14 to the config's
    32x32, blocks load by name, the rest is reported."""
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    gen = torch.Generator().manual_seed(2)
    dim = 32
    template = MODELS.build(_narrow_deit3_cfg().model).backbone
    plain_keys = [k for k in template.state_dict()
                  if k.startswith(('patch_embed.', 'pos_embed')) or
                  any(k.endswith(s) for s in ('norm1.weight', 'norm1.bias', 'norm2.weight',
                                              'norm2.bias', 'qkv.weight', 'qkv.bias',
                                              'attn.proj.weight', 'attn.proj.bias', 'gamma_1',
                                              'gamma_2')) or '.mlp.' in k]
    fdam_keys = set(template.state_dict()) - set(plain_keys)
    assert fdam_keys and all(('freq_scale_' in k or 'dy_freq' in k or k.endswith('f_gamma'))
                             for k in fdam_keys)
    imagenet = {k: torch.randn(template.state_dict()[k].shape, generator=gen)
                for k in plain_keys if k != 'pos_embed'}
    extra = {'cls_token': torch.randn(1, 1, dim, generator=gen),
             'norm.weight': torch.ones(dim), 'norm.bias': torch.zeros(dim),
             'head.weight': torch.randn(1000, dim, generator=gen), 'head.bias': torch.zeros(1000)}
    for tokens in (196, 197):
        pos = torch.randn(1, tokens, dim, generator=gen)
        path = tmp_path / f'deit_3_{tokens}.pth'
        torch.save({'model': dict(imagenet, pos_embed=pos, **extra)}, path)
        model = MODELS.build(_narrow_deit3_cfg(str(path)).model)
        fdam_before = {k: v.clone() for k, v in model.backbone.state_dict().items()
                       if k in fdam_keys}
        model.init_weights()
        own = model.backbone.state_dict()
        for key, value in imagenet.items():
            assert torch.equal(own[key], value), key
        grid = pos[:, tokens - 196:].reshape(1, 14, 14, dim).permute(0, 3, 1, 2)
        expected = F.interpolate(grid, size=(32, 32), mode='bicubic', align_corners=False)
        assert own['pos_embed'].shape == (1, 32 * 32, dim)
        assert torch.allclose(own['pos_embed'], expected.flatten(2).transpose(1, 2), atol=1e-6)
        for key in fdam_keys:  # not in the checkpoint: their own init, unchanged by loading
            if 'reweight.fc' not in key:  # re-drawn by init_weights (PyTorch's Linear init)
                assert torch.equal(own[key], fdam_before[key]), key
        report = model.backbone.load_pretrained_state_dict(
            dict(imagenet, pos_embed=pos, **extra))
        assert set(report['unexpected']) == set(extra)
        assert set(report['missing']) == fdam_keys


def test_segformer_fdam_is_the_baseline_plus_fdam():
    base = _cfg(FDAM / 'segformer_mit-b0_8xb2-160k_ade20k-512x512.py')
    cfg = _cfg(FDAM / 'segformer_mit-b0-fdam_8xb2-160k_ade20k-512x512.py')
    assert base.model.backbone.type == 'MixVisionTransformer'
    backbone = cfg.model.backbone.to_dict()
    assert backbone.pop('type') == 'MixVisionTransformerFDAM'
    assert backbone.pop('attn_inv') is True
    assert backbone.pop('freq_scale') == dict(mode='group', num_filters=4, groups=16, size=14,
                                              reweight_ratio=0.0625)
    assert backbone == {k: v for k, v in base.model.backbone.items() if k != 'type'}
    assert cfg.optim_wrapper == base.optim_wrapper


# --------------------------------------------------------------------------------------------
# tiny variants: 2 iterations with the stock train tool on the demo ADE20K data, then mIoU

DEMO = CONFIGS / 'demo'


def test_tiny_deit_s_fdam_upernet_trains_resumes_and_evaluates(demo_root, tmp_path):
    miou = train_resume_test('mmseg', DEMO / 'upernet_deit-s16-fdam-tiny_40it_demo-ade20k-64x64.py',
                             demo_root, tmp_path)
    assert math.isfinite(miou) and 0 <= miou <= 100


@pytest.mark.parametrize('config', [
    'upernet_r50-fdconv-tiny_40it_demo-ade20k-64x64.py',
    'segformer_mit-b0-fdam-tiny_40it_demo-ade20k-64x64.py',
])
def test_tiny_variant_trains_and_evaluates(config, demo_root, tmp_path):
    options = data_options('mmseg', demo_root)
    log = mmrun.train(DEMO / config, tmp_path, options + short_schedule(2))
    assert_finite_losses(log, 2)
    log = mmrun.test(DEMO / config, tmp_path / 'iter_2.pth', tmp_path, options)
    miou = metric('mmseg', log)
    assert math.isfinite(miou) and 0 <= miou <= 100


@pytest.mark.parametrize('config, real, new_keys', [
    ('upernet_r50-fdconv-tiny_40it_demo-ade20k-64x64.py', FDCONV_UPERNET,
     ('dft_weight', 'KSM_Global', 'KSM_Local', 'FBM')),
    ('upernet_deit-s16-fdam-tiny_40it_demo-ade20k-64x64.py', FDAM / DEIT_S_FDAM,
     ('dy_freq', 'hf_gamma', 'freq_scale_1', 'freq_scale_2')),
    ('segformer_mit-b0-fdam-tiny_40it_demo-ade20k-64x64.py',
     FDAM / 'segformer_mit-b0-fdam_8xb2-160k_ade20k-512x512.py',
     ('dy_freq', 'hf_gamma', 'freq_scale_1', 'freq_scale_2')),
])
def test_tiny_variants_keep_the_real_model_but_narrow(config, real, new_keys):
    from mmseg.registry import MODELS
    tiny, full = _cfg(DEMO / config), _cfg(real)
    assert tiny.model.backbone.type == full.model.backbone.type
    for key in ('attn_inv', 'freq_scale', 'conv_cfg'):
        assert tiny.model.backbone.get(key) == full.model.backbone.get(key)
    assert tiny.crop_size == (64, 64)
    init_default_scope('mmseg')
    keys = list(MODELS.build(tiny.model).state_dict())
    for fragment in new_keys:  # the tiny model really has FDConv / FDAM layers
        assert any(fragment in key for key in keys), fragment


def test_release_layout_checkpoint_evaluates_with_the_stock_test_tool(demo_root, tmp_path):
    """The README's evaluation of the released checkpoint, narrowed: an mmcv 1.x / mmseg 0.x
    checkpoint file (``meta`` with CLASSES / PALETTE / numpy best score, ``state_dict`` in the
    release layout, ``optimizer``) goes straight into tools/test.py with the config, every key
    matching; mIoU is computed on the demo ADE20K data."""
    import numpy as np
    from collections import OrderedDict
    import deit3_release_reference as ref
    shapes = ref.release_segmentor_shapes(dim=32, heads=2, head_channels=16, aux_channels=8)
    state = OrderedDict(ref.random_state(shapes))
    checkpoint = {
        'meta': {'mmseg_version': '0.25.0', 'CLASSES': tuple(f'c{i}' for i in range(150)),
                 'PALETTE': [[i, i, i] for i in range(150)], 'iter': 160000,
                 'hook_msgs': {'best_score': np.float64(0.526), 'last_ckpt': 'iter_160000.pth'}},
        'state_dict': state,
        'optimizer': {'state': {}, 'param_groups': [{'lr': 0., 'params': []}]}}
    torch.save(checkpoint, tmp_path / 'release.pth')
    narrow = ['model.backbone.embed_dims=32', 'model.backbone.num_heads=2',
              'model.backbone.init_cfg=None', 'model.neck.in_channels=32',
              'model.decode_head.in_channels=[32,32,32,32]', 'model.decode_head.channels=16',
              'model.auxiliary_head.in_channels=32', 'model.auxiliary_head.channels=8']
    log = mmrun.test(FDAM / DEIT3, tmp_path / 'release.pth', tmp_path / 'work',
                     data_options('mmseg', demo_root) + narrow)
    assert 'do not match exactly' not in log and 'unexpected key' not in log
    miou = metric('mmseg', log)
    assert math.isfinite(miou) and 0 <= miou <= 100
