"""Semantic segmentation configs of issue 5 (ADE20K, mmseg): every config builds, its parameter
count is printed and checked against the papers, the recipes are those of the papers, the release
DeiT-III checkpoint layout loads strictly into the configured segmentor, and tiny variants train
with the stock tool on the demo ADE20K data and evaluate mIoU."""
import functools
import math

import pytest
import torch
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
    'fdam/' + DEIT3: (164_382_356, None, {}),
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
    assert max(s['end'] for s in cfg.param_scheduler) == 160000
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
    cfg = _cfg(FDAM / DEIT3)
    optim = cfg.optim_wrapper
    assert optim.optimizer == dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01)
    assert optim.constructor == 'ViTLayerDecayOptimizerConstructor'
    assert optim.paramwise_cfg.num_layers == 12 and optim.paramwise_cfg.layer_decay_rate == 0.95
    keys = optim.paramwise_cfg.custom_keys
    assert keys['freq_scale'] == dict(lr_mult=2.)
    assert keys['pos_embed'] == dict(decay_mult=0.) and keys['norm'] == dict(decay_mult=0.)
    warmup, poly = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 1500 and warmup.begin == 0
    assert poly.type == 'PolyLR' and (poly.begin, poly.end, poly.power) == (1500, 160000, 1.0)
    backbone = cfg.model.backbone
    assert backbone.type == 'DeiT3FDAM' and backbone.drop_path_rate == 0.15
    assert backbone.freq_scale == dict(mode='group', num_filters=4, groups=16, size=14,
                                       reweight_ratio=0.0625)
    assert backbone.attn_inv and backbone.qkv_bias and backbone.layer_scale_init == 1e-4


def test_release_deit3_checkpoint_loads_strictly_into_the_configured_segmentor():
    from mmseg.registry import MODELS
    from test_seg_models import _state_from_shapes, release_deit3_shapes
    init_default_scope('mmseg')
    model = MODELS.build(_cfg(FDAM / DEIT3).model)
    shapes = release_deit3_shapes()
    own = model.state_dict()
    assert {k[len('backbone.'):]: tuple(v.shape) for k, v in own.items()
            if k.startswith('backbone.')} == shapes
    state = {'backbone.' + k: v for k, v in _state_from_shapes(shapes).items()}
    state.update({k: v for k, v in own.items() if not k.startswith('backbone.')})  # UPerNet heads
    model.load_state_dict(state, strict=True)
    name = 'backbone.blocks.7.freq_scale_1.complex_weights'
    assert torch.equal(model.state_dict()[name], state[name])


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
