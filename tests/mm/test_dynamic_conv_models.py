"""The comparison rows of FDConv's Tables 1-2 in the mm stack: the conv types registered for
``conv_cfg``, the ResNet backbones that make each method's convs dynamic (KernelWarehouse's
shared warehouses), every config of configs/dynamic_convs/ with its parameter delta against the
paper, the temperature hook, and one tiny demo train / test per method through the stock tools.
Against the authors' KW_ResNet (opt-in, MMFREQ_DYNCONV_REFERENCE_DIR): the same backbone
features from the same weights."""
import math
import sys
import types
from pathlib import Path

import pytest
import torch
from mmrun import (CONFIGS, assert_finite_losses, data_options, metric, num_params,
                   short_schedule)
import mmrun

import mmfreq  # noqa: F401  (registrations)
from mmcv.cnn import build_conv_layer
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import HOOKS, MODELS, init_default_scope
from mmfreq.layers import (CondConv2d, DCDConv2d, DynamicConv2d, KernelWarehouseManager,
                           KWConv2d, ODConv2d)
from mmfreq.models.temperature_hook import annealed_temperature
from mmfreq.release_modules import (DYNCONV_REFERENCE_ENV, DYNCONV_REFERENCE_FILES,
                                    load_release_file, release_checkout, swapped_modules)

DYN = CONFIGS / 'dynamic_convs'
DEMO = CONFIGS / 'demo'
FASTER = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
MASK = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
UPERNET = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'
# config -> (plain baseline, dynamic layer type, paper's params, our delta or total (M), why
# ours differs from the paper, if it does)
EXPECTED = {
    'faster-rcnn_r50-condconv-8x_fpn_1x_coco.py': (FASTER, CondConv2d, '+90.0M', 89.98, None),
    'faster-rcnn_r50-dyconv-4x_fpn_1x_coco.py': (FASTER, DynamicConv2d, '+75.3M', 75.34, None),
    'faster-rcnn_r50-dcd_fpn_1x_coco.py': (FASTER, DCDConv2d, '+4.3M', 4.05,
                                           "the paper's delta includes DCD's ImageNet classifier"),
    'faster-rcnn_r50-odconv-4x_fpn_1x_coco.py': (FASTER, ODConv2d, '+65.1M', 65.11, None),
    'mask-rcnn_r50-dyconv-4x_fpn_1x_coco.py': (MASK, DynamicConv2d, '+75.3M', 75.34, None),
    'mask-rcnn_r50-odconv-4x_fpn_1x_coco.py': (MASK, ODConv2d, '+65.1M', 65.11, None),
    'mask-rcnn_r50-kw-1x_fpn_adamw-1x_coco.py': (MASK, KWConv2d, '+2.5M', 2.50, None),
    'mask-rcnn_r50-kw-4x_fpn_adamw-1x_coco.py': (MASK, KWConv2d, '+76.5M', 76.46, None),
    'upernet_r50-odconv-4x_4xb4-160k_ade20k-512x512.py': (
        UPERNET, ODConv2d, '131M', 131.63, 'the paper truncates 131.63M to 131M'),
    'upernet_r50-kw-4x_4xb4-160k_ade20k-512x512.py': (
        UPERNET, KWConv2d, '141M', 142.97, "66.52M + KW 4x's +76.46M; the paper gives 141M"),
}
_BUILT = {}


def build(config):
    key = str(config)
    if key not in _BUILT:
        cfg = get_config(key) if '::' in key else Config.fromfile(key)
        init_default_scope(cfg.get('default_scope', 'mmdet'))
        _BUILT[key] = MODELS.build(cfg.model)
    return _BUILT[key]


def test_every_config_of_the_folder_is_covered():
    assert sorted(p.name for p in DYN.glob('*.py')) == sorted(EXPECTED)


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_config_builds_its_method_with_the_papers_parameter_count(name):
    from mmfreq.analysis.paper_tables import check_count, parse_paper_count
    baseline, layer_type, paper, ours, why = EXPECTED[name]
    model, plain = build(DYN / name), build(baseline)
    assert all(isinstance(block.conv2, layer_type) for block in model.backbone.layer4)
    count = parse_paper_count(paper)
    value = num_params(model) - num_params(plain) if count.delta else num_params(model)
    print(f'{name}: {value / 1e6:.2f}M (paper {paper})')
    assert abs(value / 1e6 - ours) < 0.01
    assert (check_count(count, value) is None) == (why is None), why


def test_paper_tables_list_every_comparison_config_next_to_fdconvs():
    from mmfreq.analysis.paper_tables import PAPER_TABLES, resolve_row_config
    tables = {t.key: t for t in PAPER_TABLES}
    rows = {Path(resolve_row_config(row)).name: (key, row)
            for key in ('fdconv-table1', 'fdconv-table2') for row in tables[key].rows
            if resolve_row_config(row) and 'dynamic_convs' in resolve_row_config(row)}
    assert sorted(rows) == sorted(EXPECTED)
    for name, (key, row) in rows.items():
        assert row.params == EXPECTED[name][2] and row.baseline in {
            r.label for r in tables[key].rows}


def test_block_convs_of_each_method_follow_its_authors():
    condconv = build(DYN / 'faster-rcnn_r50-condconv-8x_fpn_1x_coco.py').backbone
    assert not any(isinstance(m, CondConv2d) for m in condconv.layer3.modules())
    assert len([m for m in condconv.layer4.modules() if isinstance(m, CondConv2d)]) == 9
    dyconv = build(DYN / 'faster-rcnn_r50-dyconv-4x_fpn_1x_coco.py').backbone
    assert all(isinstance(getattr(dyconv, f'layer{i}')[0].downsample[0], DynamicConv2d)
               for i in range(1, 5))
    assert type(dyconv.conv1) is torch.nn.Conv2d  # the stem stays plain
    odconv = build(DYN / 'faster-rcnn_r50-odconv-4x_fpn_1x_coco.py').backbone
    assert type(odconv.layer2[0].downsample[0]) is torch.nn.Conv2d


def test_kernel_warehouse_resnet_shares_one_warehouse_per_stage():
    backbone = build(DYN / 'mask-rcnn_r50-kw-1x_fpn_adamw-1x_coco.py').backbone
    manager = backbone.warehouse_manager
    assert isinstance(manager, KernelWarehouseManager)
    assert manager.warehouse_names == [f'stage{s}_layer_conv' for s in range(4)]
    # cell counts of the authors' KW_ResNet-50 (1x)
    assert [tuple(w.shape) for w in manager.weights] == [
        (87, 64, 64, 1, 1), (104, 128, 128, 1, 1), (138, 256, 256, 1, 1), (47, 512, 512, 1, 1)]
    # handover: stage 2's first conv1 and its strided downsample use stage 1's warehouse
    first = backbone.layer2[0]
    assert first.conv1.cells is backbone.layer1[1].conv2.cells
    assert first.downsample[0].cells is backbone.layer1[0].conv3.cells
    assert first.conv2.cells is backbone.layer2[1].conv1.cells
    assert type(backbone.layer1[0].conv1) is torch.nn.Conv2d  # nothing to hand over from
    assert type(backbone.layer1[0].downsample[0]) is torch.nn.Conv2d  # stride 1
    assert all(not p.requires_grad for p in backbone.layer1.parameters())  # frozen_stages=1
    assert all(w.requires_grad for w in manager.weights)  # the warehouses are shared


@pytest.mark.parametrize('conv_type', ['CondConv2d', 'DynamicConv2d', 'DCDConv2d', 'ODConv2d',
                                       'KWConv2d'])
def test_conv_types_build_through_conv_cfg_from_any_scope(conv_type):
    for scope in ('mmdet', 'mmseg'):
        init_default_scope(scope)
        layer = build_conv_layer(dict(type=conv_type), 32, 16, 3, stride=2, padding=1,
                                 bias=False)
        assert type(layer).__name__ == conv_type
        assert layer(torch.randn(2, 32, 8, 8)).shape == (2, 16, 4, 4)


def test_backbones_refuse_bad_arguments():
    init_default_scope('mmdet')
    with pytest.raises(ValueError, match='conv_cfg must be a dict'):
        MODELS.build(dict(type='ResNetDynamicConv', depth=50))
    with pytest.raises(ValueError, match='dynamic_stages must be a sequence'):
        MODELS.build(dict(type='ResNetDynamicConv', depth=50, conv_cfg=dict(type='ODConv2d'),
                          dynamic_stages=3))
    with pytest.raises(ValueError, match='cell_num_ratio=0 .* > 0'):
        MODELS.build(dict(type='ResNetKW', depth=18, cell_num_ratio=0))


class _Runner(types.SimpleNamespace):
    pass


def test_temperature_hook_follows_the_authors_schedule():
    from mmengine.logging import MessageHub
    model = torch.nn.Sequential(ODConv2d(16, 16, 3, padding=1), DynamicConv2d(16, 16, 1),
                                torch.nn.ReLU())
    hook = HOOKS.build(dict(type='TemperatureScheduleHook', start=30.0, end=1.0, epochs=2))
    runner = _Runner(model=model, iter=0, train_dataloader=range(5),
                     message_hub=MessageHub.get_instance('temperature-hook-test'))
    seen = []
    for iteration in range(12):
        runner.iter = iteration
        hook.before_train_iter(runner, iteration % 5)
        seen.append(model[0].temperature)
        assert model[1].temperature == model[0].temperature
    # the ODConv authors' get_temperature(batch_idx + 1, epoch, 5, temp_epoch=2, temp_init=30)
    authors = [1.0 + max(0.0, 29.0 * (10 - (i + 1)) / 10) for i in range(12)]
    assert seen == pytest.approx(authors) and seen[-1] == 1.0
    assert annealed_temperature(5, 20, 1.0, 0.0) == pytest.approx(0.75)  # KW: 1 -> 0
    runner.model = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1))
    with pytest.raises(RuntimeError, match='no DynamicConv2d, ODConv2d or KWConv2d'):
        hook.before_train_iter(runner, 0)
    with pytest.raises(ValueError, match='exactly one of epochs and iters'):
        HOOKS.build(dict(type='TemperatureScheduleHook', start=1.0, end=0.0))


# (config, codebase, dataset): one per method, Faster R-CNN and UPerNet alternating
DEMOS = [('faster-rcnn_r50-condconv-tiny_fpn_40it_demo-coco-128.py', 'mmdet'),
         ('upernet_r50-dyconv-tiny_40it_demo-ade20k-64x64.py', 'mmseg'),
         ('faster-rcnn_r50-dcd-tiny_fpn_40it_demo-coco-128.py', 'mmdet'),
         ('upernet_r50-odconv-tiny_40it_demo-ade20k-64x64.py', 'mmseg'),
         ('faster-rcnn_r50-kw-tiny_fpn_40it_demo-coco-128.py', 'mmdet')]


@pytest.mark.parametrize('config, codebase', DEMOS)
def test_tiny_demo_trains_and_tests_with_the_stock_tools(config, codebase, demo_root, tmp_path):
    data = data_options(codebase, demo_root)
    train_data = data if codebase == 'mmseg' else [o for o in data if not o.startswith('val_')]
    no_val = [] if codebase == 'mmseg' else ['val_dataloader=None', 'val_cfg=None',
                                            'val_evaluator=None']
    log = mmrun.train(DEMO / config, tmp_path, train_data + short_schedule(2) + no_val)
    assert_finite_losses(log, 2)
    if 'TemperatureScheduleHook' in (DEMO / config).read_text():
        temperatures = [float(t) for t in __import__('re').findall(r'temperature: ([\d.]+)',
                                                                   log)]
        assert len(temperatures) == 2 and temperatures[0] > temperatures[1], temperatures
    log = mmrun.test(DEMO / config, tmp_path / 'iter_2.pth', tmp_path, data)
    value = metric(codebase, log)
    assert math.isfinite(value) and value >= 0


def _reference_kw_resnet(checkout: Path):
    """The authors' ``KW_ResNet`` module, its timm imports (DropPath, register_model; unused at
    drop_path_rate 0) stood in for, its ``modules.kernel_warehouse`` import given."""
    kernel_warehouse = load_release_file(checkout / 'modules' / 'kernel_warehouse.py',
                                         'kw_reference_kernel_warehouse')
    package = types.ModuleType('modules')
    package.kernel_warehouse = kernel_warehouse
    layers = types.SimpleNamespace(DropPath=lambda p: torch.nn.Identity())
    stubs = {'modules': package, 'modules.kernel_warehouse': kernel_warehouse,
             'timm': types.ModuleType('timm'), 'timm.models': types.ModuleType('timm.models'),
             'timm.models.layers': layers,
             'timm.models.registry': types.SimpleNamespace(register_model=lambda f: f)}
    with swapped_modules(stubs):
        return load_release_file(checkout / 'models' / 'kw_resnet.py', 'kw_reference_resnet')


@pytest.mark.parametrize('cell_num_ratio', [1, 4])
def test_kernel_warehouse_resnet_matches_the_authors_kw_resnet(cell_num_ratio):
    import os
    checkout = release_checkout(DYNCONV_REFERENCE_FILES['KWConv2d'][0],
                                os.environ.get(DYNCONV_REFERENCE_ENV, ''))
    if checkout is None:
        pytest.skip(f'opt-in: set {DYNCONV_REFERENCE_ENV} to a checkout of OSVAI/KernelWarehouse')
    reference = _reference_kw_resnet(checkout)
    torch.manual_seed(0)
    theirs = reference.KW_ResNet(reference.Bottleneck, [3, 4, 6, 3],
                                 cell_num_ratio=cell_num_ratio).eval()
    init_default_scope('mmdet')
    ours = MODELS.build(dict(type='ResNetKW', depth=50, cell_num_ratio=cell_num_ratio,
                             norm_eval=False))
    ours.eval()  # mmdet's ResNet.train returns None
    state = {k: v for k, v in theirs.state_dict().items() if not k.startswith('fc.')}
    ours.load_state_dict(state, strict=True)  # the authors' key layout is this backbone's
    assert num_params(theirs) - num_params(theirs.fc) == num_params(ours)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        stem = theirs.maxpool(theirs.relu(theirs.bn1(theirs.conv1(x))))
        features = []
        for stage in range(4):
            stem = getattr(theirs, f'layer{stage + 1}')(stem)
            features.append(stem)
        differences = [(mine - their).abs().max().item()
                       for mine, their in zip(ours(x), features)]
    print(f'KW_ResNet-50 ({cell_num_ratio}x) stage outputs, max difference: {differences}')
    assert len(differences) == 4 and max(differences) < 1e-4
