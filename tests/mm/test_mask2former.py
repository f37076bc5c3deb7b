"""Mask2Former with FDConv (FDConv paper Tables 4 and 5) on mmseg: the Cityscapes R50-FDConv and
ADE20K Swin-B-FDLinear configs are mmseg's stock Mask2Former configs with the FDConv settings of the
detection configs, their parameter counts, the FDLinear Swin in mmseg's registry and its pretrained
loading, the paper-table rows, and a tiny Mask2Former R50-FDConv trained, resumed and evaluated
with the stock tools on the demo Cityscapes data."""
import functools
import importlib.util
import math

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmrun import CONFIGS, REPO, num_params, train_resume_test

import mmfreq  # noqa: F401  (registrations)
from mmfreq.analysis.complexity import resolve_config_path
from mmfreq.analysis.paper_tables import PAPER_TABLES, resolve_row_config
from mmfreq.layers import FDConv, FDLinear
from mmfreq.layers.fdconv_conversion import restore_dense_weight

FD_DIR = CONFIGS / 'fdconv'
STOCK_R50 = 'mmseg::mask2former/mask2former_r50_8xb2-90k_cityscapes-512x1024.py'
STOCK_SWIN_B = ('mmseg::mask2former/'
                'mask2former_swin-b-in22k-384x384-pre_8xb2-160k_ade20k-640x640.py')
FD_R50 = 'fdconv/mask2former_r50-fdconv_8xb2-90k_cityscapes-512x1024.py'
FD_SWIN_B = 'fdconv/mask2former_swin-b-in22k-384x384-pre-fdconv_8xb2-160k_ade20k-640x640.py'
TINY = CONFIGS / 'demo' / 'mask2former_r50-fdconv-tiny_40it_demo-cityscapes-64x128.py'
# FDConv config -> (stock baseline, detection config with the same FDConv setting, the backbone
# keys the FDConv config sets)
PAIRS = {
    FD_R50: (STOCK_R50, 'fdconv/faster-rcnn_r50-fdconv_fpn_1x_coco.py',
             {'type', 'conv_cfg', 'need_grad_list', 'init_cfg'}),
    FD_SWIN_B: (STOCK_SWIN_B, 'fdconv/mask-rcnn_swin-t-p4-w7-fdconv_fpn_1x_coco.py',
                {'type', 'fdlinear_cfg', 'init_cfg'}),
}
# measured; the paper gives no parameter counts for Tables 4 and 5
PARAMS = {STOCK_R50: 44_007_700, FD_R50: 47_654_820,
          STOCK_SWIN_B: 106_922_191, FD_SWIN_B: 126_209_967}
SWIN_TINY = dict(embed_dims=24, depths=(1, 1, 2, 1), num_heads=(1, 2, 2, 4), window_size=2,
                 qkv_bias=True)


def _cfg(name: str) -> Config:
    return Config.fromfile(resolve_config_path(name if '::' in name else str(CONFIGS / name)))


def _unscoped(value):
    """A config value without the ``_scope_`` keys that inheriting a ``mmseg::`` base adds."""
    if isinstance(value, dict):
        return {k: _unscoped(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return type(value)(_unscoped(v) for v in value)
    return value


@functools.lru_cache(maxsize=None)
def _model(name: str):
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    return MODELS.build(_cfg(name).model)


@pytest.mark.parametrize('name', list(PAIRS))
def test_configs_are_the_stock_mask2former_with_the_detection_fdconv_backbone(name):
    stock_name, det_name, changed = PAIRS[name]
    text = (CONFIGS / name).read_text()
    assert len(text.splitlines()) <= 40 and "_base_ = ['mmseg::mask2former/" in text
    cfg, stock, det = _cfg(name), _cfg(stock_name), _cfg(det_name)
    assert cfg.custom_imports == dict(imports=['mmfreq'], allow_failed_imports=False)
    own = {'model', 'custom_imports', 'pretrained', 'fdconv'}
    assert set(cfg) - own == set(stock) - own
    for key in set(stock) - own:  # data, schedule, recipe: the stock ones
        assert _unscoped(cfg[key]) == _unscoped(stock[key]), key
    for key in set(stock.model) - {'backbone'}:  # Mask2Former head and data preprocessor
        assert _unscoped(cfg.model[key]) == _unscoped(stock.model[key]), key
    backbone, stock_backbone = cfg.model.backbone, stock.model.backbone
    assert {k for k in backbone if backbone[k] != stock_backbone.get(k)} == changed
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=cfg.pretrained)
    assert cfg.pretrained.startswith('checkpoints/')  # written by tools/convert_to_fdconv.py
    if 'conv_cfg' in changed:  # the FDConv ResNet-50 of the detection configs, on mmseg's ResNet
        assert backbone.type == 'ResNetFDConv' and stock_backbone.type == 'ResNet'
        assert backbone.conv_cfg == det.model.backbone.conv_cfg
        assert backbone.need_grad_list == det.model.backbone.need_grad_list
        assert cfg.pretrained == det.pretrained  # both from torchvision's ResNet-50
    else:  # FDLinear in the Swin MLPs, as in the Mask R-CNN Swin-T config
        assert backbone.type == 'SwinTransformerFDConv' and stock_backbone.type == 'SwinTransformer'
        assert backbone.fdlinear_cfg == det.model.backbone.fdlinear_cfg


@pytest.mark.parametrize('name', list(PARAMS))
def test_parameter_counts(name):
    count = num_params(_model(name))
    print(f'\n{name}: {count:,} parameters ({count / 1e6:.2f}M)')
    assert count == PARAMS[name]


def test_r50_fdconv_backbone_is_mmsegs_resnet_with_fdconv_blocks():
    from mmseg.models.backbones import ResNet
    model, stock = _model(FD_R50), _model(STOCK_R50)
    backbone = model.backbone
    assert isinstance(backbone, ResNet) and not backbone.deep_stem  # the stock 7x7 stem
    names = {n for n, m in backbone.named_modules() if isinstance(m, FDConv) and m.is_fdconv}
    assert names == {f'layer{i}.{j}.conv{k}' for i, blocks in enumerate((3, 4, 6, 3), start=1)
                     for j in range(blocks) for k in (1, 2, 3)}
    assert all(backbone.get_submodule(n).kernel_num == 64 for n in names)
    # the FDConv ResNet-50 of FDConv's Table 1 (+3.6M): only the backbone differs
    delta = num_params(model) - num_params(stock)
    assert delta == num_params(backbone) - num_params(stock.backbone) == 3_647_120
    assert abs(delta - 3.6e6) <= 0.05e6


def test_swin_b_fdlinear_backbone():
    from mmseg.models.backbones import SwinTransformer
    backbone = _model(FD_SWIN_B).backbone
    assert isinstance(backbone, SwinTransformer)
    names = sorted(n for n, m in backbone.named_modules() if isinstance(m, FDLinear))
    assert names == sorted(backbone.fdlinear_names)
    assert len(names) == 2 * (2 + 2 + 18 + 2)  # both MLP linears of every Swin-B block
    assert all(backbone.get_submodule(n).kernel_num == 64 for n in names)


# --------------------------------------------------------------------------------------------
# SwinTransformerFDConv in mmseg's registry

def _mmseg_swin(**kwargs):
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    return MODELS.build(dict(type='SwinTransformerFDConv', fdlinear_cfg=dict(kernel_num=8),
                             **SWIN_TINY, **kwargs))


def test_swin_fdlinear_is_registered_on_each_codebases_swin():
    from mmdet.models.backbones import SwinTransformer as DetSwin
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.models.backbones import SwinTransformer as SegSwin
    from mmseg.registry import MODELS as SEG_MODELS
    seg, det = SEG_MODELS.get('SwinTransformerFDConv'), DET_MODELS.get('SwinTransformerFDConv')
    assert issubclass(seg, SegSwin) and not issubclass(seg, DetSwin)
    assert issubclass(det, DetSwin) and not issubclass(det, SegSwin)


def test_mmseg_swin_fdlinear_names_forward_and_scratch_init():
    from mmseg.models.backbones import SwinTransformer
    plain = SwinTransformer(**SWIN_TINY)
    torch.manual_seed(0)
    model = _mmseg_swin()
    fd = sorted(n for n, m in model.named_modules() if isinstance(m, FDLinear))
    assert fd == sorted(f'stages.{i}.blocks.{j}.ffn.layers.{k}' for i, d in
                        enumerate(SWIN_TINY['depths']) for j in range(d) for k in ('0.0', '1'))
    plain_keys, own_keys = set(plain.state_dict()), set(model.state_dict())
    assert plain_keys - own_keys == {f'{n}.weight' for n in fd}
    assert {k for k in own_keys - plain_keys if 'KSM' not in k} == {f'{n}.dft_weight' for n in fd}
    model.init_weights()  # from scratch: the FDW of the stock truncated-normal (std 0.02) init
    layer = model.stages[2].blocks[1].ffn.layers[0][0]
    dense = restore_dense_weight(layer.dft_weight.detach(), 384, 96, 1, linear=True)
    assert 0.017 < dense.std().item() < 0.023 and abs(dense.mean().item()) < 0.002
    outs = model(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 24, 16, 16), (2, 48, 8, 8), (2, 96, 4, 4),
                                             (2, 192, 2, 2)]
    sum(o.mean() for o in outs).backward()
    assert torch.isfinite(model.stages[2].blocks[1].ffn.layers[1].dft_weight.grad).all()


def test_mmseg_swin_checkpoint_converts_and_loads_through_the_stock_init(tmp_path):
    """A checkpoint in mmseg's Swin layout (``stages.i.blocks.j.ffn.layers.0.0.weight``, as
    mmseg's pretrained Swin files are), converted by tools/convert_to_fdconv.py
    (``--model-type swin``), loads through mmseg's Swin ``init_weights`` (Pretrained)."""
    from mmseg.models.backbones import SwinTransformer
    torch.manual_seed(0)
    plain = {k: v.clone() for k, v in SwinTransformer(**SWIN_TINY).state_dict().items()}
    for value in plain.values():
        if value.is_floating_point():
            value.normal_()
    src, dst = tmp_path / 'swin_mmseg.pth', tmp_path / 'swin_mmseg_fdconv.pth'
    torch.save({'state_dict': plain}, src)
    spec = importlib.util.spec_from_file_location('convert_to_fdconv',
                                                  REPO / 'tools' / 'convert_to_fdconv.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(['--model-type', 'swin', str(src), str(dst)]) == 0
    converted = torch.load(dst, weights_only=True)['state_dict']
    model = _mmseg_swin(init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    model.init_weights()
    state = model.state_dict()
    for key, value in converted.items():
        assert torch.equal(state[key], value), key
    assert all('KSM' in k for k in set(state) - set(converted))
    name = 'stages.1.blocks.0.ffn.layers.1'
    dense = restore_dense_weight(state[f'{name}.dft_weight'], 48, 192, 1, linear=True)
    torch.testing.assert_close(dense, plain[f'{name}.weight'], atol=1e-5, rtol=1e-4)


# --------------------------------------------------------------------------------------------
# paper tables

def test_paper_table_rows():
    tables = {t.key: t for t in PAPER_TABLES}
    table4, table5 = tables['fdconv-table4'], tables['fdconv-table5']
    rows = {r.label: r for r in table4.rows + table5.rows}
    expected = {'Mask2Former R50': (STOCK_R50, '79.4'),
                'Mask2Former R50 + FDConv': (FD_R50, '80.4'),
                'Mask2Former Swin-B': (STOCK_SWIN_B, '53.9'),
                'Mask2Former Swin-B + FDConv': (FD_SWIN_B, '54.9'),
                'MaskDINO Swin-L': (None, '56.6'), 'MaskDINO Swin-L + FDConv': (None, '57.2')}
    assert set(rows) == set(expected)
    for label, (config, miou) in expected.items():
        assert rows[label].metrics == {'mIoU': miou}
        resolved = resolve_row_config(rows[label])
        if config is None:
            assert resolved is None
        elif '::' in config:
            assert resolved == config
        else:
            assert resolved == str(CONFIGS / config)
    assert rows['Mask2Former R50 + FDConv'].baseline == 'Mask2Former R50'
    assert rows['Mask2Former Swin-B + FDConv'].baseline == 'Mask2Former Swin-B'
    assert any('MaskDINO has no OpenMMLab implementation' in note for note in table5.notes)


def test_flops_of_the_mask2former_forward():
    """The FLOP counter traces Mask2Former's head (its forward needs the data samples) and counts
    its masked attention (``aten::baddbmm``)."""
    from mmfreq.analysis.complexity import model_complexity
    result = model_complexity(str(TINY), (64, 128))
    assert result.params == num_params(_model(str(TINY)))
    assert 0 < result.backbone_flops < result.flops
    assert 'aten::baddbmm' not in result.uncounted_ops


# --------------------------------------------------------------------------------------------
# tiny Mask2Former R50-FDConv on the demo Cityscapes data

def test_tiny_variant_keeps_the_real_model_but_narrow():
    tiny, full = _cfg(str(TINY)), _cfg(FD_R50)
    for key in ('type', 'conv_cfg', 'need_grad_list', 'depth', 'deep_stem'):
        assert tiny.model.backbone[key] == full.model.backbone[key], key
    assert tiny.model.decode_head.type == full.model.decode_head.type == 'Mask2FormerHead'
    assert tiny.optim_wrapper.paramwise_cfg == full.optim_wrapper.paramwise_cfg
    assert tiny.optim_wrapper.clip_grad == full.optim_wrapper.clip_grad
    assert tiny.train_dataloader.dataset.type == 'CityscapesDataset'
    assert tiny.crop_size == (64, 128)
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    backbone = MODELS.build(tiny.model.backbone)
    assert any(isinstance(m, FDConv) and m.is_fdconv for m in backbone.modules())


def test_tiny_mask2former_fdconv_trains_resumes_and_evaluates(demo_root, tmp_path):
    miou = train_resume_test('mmseg', TINY, demo_root, tmp_path, dataset='cityscapes')
    assert math.isfinite(miou) and 0 <= miou <= 100
