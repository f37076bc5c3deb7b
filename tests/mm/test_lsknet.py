"""LSKNet backbone with optional FDAM for mmrotate, its DOTA configs and the tiny demo run
(docs/fdam.md, "LSKNet"; LSKNet, Li et al., IJCV 2024)."""
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import mmrun
from mmrun import CONFIGS, REPO, data_options, num_params, train_resume_test

import mmfreq  # noqa: F401  (compat fixes before mmrotate; registers LSKNet)
from mmfreq.layers import FreqScale
from mmfreq.layers.freq_scale import freq_scale_num_params
from mmfreq.models.lsknet import LSKNet, lsknet_num_params

BASELINE = CONFIGS / 'fdam' / 'oriented-rcnn-le90_lsknet-s_fpn_1x_dota.py'
FDAM = CONFIGS / 'fdam' / 'oriented-rcnn-le90_lsknet-s-fdam_fpn_1x_dota.py'
TINY = CONFIGS / 'demo' / 'oriented-rcnn-le90_lsknet-tiny-fdam_fpn_40it_demo-dota-128.py'

LSK_S = dict(embed_dims=[64, 128, 320, 512], depths=[2, 2, 4, 2], mlp_ratios=[8, 8, 4, 4])
TINY_ARCH = dict(embed_dims=[16, 32, 64, 128], depths=[1, 1, 1, 1], mlp_ratios=[4, 4, 4, 4])
GROUP_FS = dict(mode='group', num_filters=4, groups=16, size=14, reweight_ratio=0.0625)
# LSKNet paper: 14.4M parameters for LSKNet-S (our count matches it with the 1000-class ImageNet
# classifier of the published model, a Linear 512 -> 1000, included)
LSK_S_PARAMS = 13_840_892
IMAGENET_HEAD = 512 * 1000 + 1000


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def published_shapes(embed_dims, depths, mlp_ratios, in_channels=3) -> dict:
    """Names and shapes of the published LSKNet ImageNet backbone, written out from docs/fdam.md."""
    shapes = {}

    def conv(name, out_ch, in_ch, k):
        shapes[f'{name}.weight'] = (out_ch, in_ch, k, k)
        shapes[f'{name}.bias'] = (out_ch,)

    def bn(name, dim):
        for key in ('weight', 'bias', 'running_mean', 'running_var'):
            shapes[f'{name}.{key}'] = (dim,)
        shapes[f'{name}.num_batches_tracked'] = ()

    channels = in_channels
    for i, (d, depth, ratio) in enumerate(zip(embed_dims, depths, mlp_ratios), start=1):
        conv(f'patch_embed{i}.proj', d, channels, 7 if i == 1 else 3)
        bn(f'patch_embed{i}.norm', d)
        for j in range(depth):
            p, h = f'block{i}.{j}.', int(d * ratio)
            bn(p + 'norm1', d)
            bn(p + 'norm2', d)
            conv(p + 'attn.proj_1', d, d, 1)
            sgu = p + 'attn.spatial_gating_unit.'
            conv(sgu + 'conv0', d, 1, 5)
            conv(sgu + 'conv_spatial', d, 1, 7)
            conv(sgu + 'conv1', d // 2, d, 1)
            conv(sgu + 'conv2', d // 2, d, 1)
            conv(sgu + 'conv_squeeze', 2, 2, 7)
            conv(sgu + 'conv', d, d // 2, 1)
            conv(p + 'attn.proj_2', d, d, 1)
            conv(p + 'mlp.fc1', h, d, 1)
            conv(p + 'mlp.dwconv.dwconv', h, 1, 3)
            conv(p + 'mlp.fc2', d, h, 1)
            shapes[p + 'layer_scale_1'] = (d,)
            shapes[p + 'layer_scale_2'] = (d,)
        shapes[f'norm{i}.weight'] = (d,)
        shapes[f'norm{i}.bias'] = (d,)
        channels = d
    return shapes


def random_state(shapes) -> dict:
    return {k: torch.randint(0, 100, ()) if k.endswith('num_batches_tracked') else torch.randn(s)
            for k, s in shapes.items()}


# ---------------------------------------------------------------------------------------------
# Backbone

def test_published_lsknet_s_state_dict_loads_strict():
    shapes = published_shapes(**LSK_S)
    model = LSKNet(**LSK_S)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == shapes
    state = random_state(shapes)
    model.load_state_dict(state, strict=True)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_pretrained_init_cfg_loads_published_checkpoint_by_name(tmp_path):
    """The ImageNet checkpoint (with its classifier head) initialises LSKNet + FDAM by name; the
    FreqScale modules, absent from it, keep their own init."""
    state = random_state(published_shapes(**TINY_ARCH))
    checkpoint = tmp_path / 'lsk_backbone.pth.tar'
    torch.save(dict(state_dict=dict(state, **{'head.weight': torch.randn(1000, 128),
                                              'head.bias': torch.randn(1000)})), checkpoint)
    model = LSKNet(**TINY_ARCH, freq_scale=GROUP_FS,
                   init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint)))
    freq_before = {k: v.clone() for k, v in model.state_dict().items() if 'freq_scale' in k}
    model.init_weights()
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert freq_before and all(torch.equal(loaded[k], v) for k, v in freq_before.items())


def test_lsknet_s_parameter_count():
    model = LSKNet(**LSK_S)
    count = num_params(model)
    print(f'\nLSKNet-S backbone: {count:,} parameters ({count / 1e6:.2f}M); with the ImageNet '
          f'classifier {(count + IMAGENET_HEAD) / 1e6:.2f}M (LSKNet paper: 14.4M)')
    assert count == LSK_S_PARAMS == lsknet_num_params(**LSK_S)
    assert round((count + IMAGENET_HEAD) / 1e6, 1) == 14.4


@pytest.mark.parametrize('arch', [LSK_S, TINY_ARCH], ids=['lsknet-s', 'tiny'])
def test_freq_scale_parameter_delta_matches_formula(arch):
    plain, fdam = LSKNet(**arch), LSKNet(**arch, freq_scale=GROUP_FS)
    delta = num_params(fdam) - num_params(plain)
    expected = sum(2 * depth * freq_scale_num_params(d, **GROUP_FS)
                   for d, depth in zip(arch['embed_dims'], arch['depths']))
    assert delta == expected
    assert num_params(fdam) == lsknet_num_params(**arch, freq_scale=GROUP_FS)
    # plain names are unchanged; FDAM adds exactly freq_scale_1 / freq_scale_2 in every block
    extra = set(fdam.state_dict()) - set(plain.state_dict())
    assert set(plain.state_dict()) <= set(fdam.state_dict())
    assert {k.split('.freq_scale_')[0] for k in extra} == {
        f'block{i}.{j}' for i, depth in enumerate(arch['depths'], 1) for j in range(depth)}
    if arch is LSK_S:
        print(f'\nLSKNet-S + FDAM: {num_params(fdam):,} parameters (+{delta:,})')


def reference_block(block, x):
    """One LSKNet block computed from its description (docs/fdam.md) with the block's weights."""
    def conv(mod, t, **kw):
        return F.conv2d(t, mod.weight, mod.bias, **kw)

    d = x.shape[1]
    sgu, attn, mlp = block.attn.spatial_gating_unit, block.attn, block.mlp
    u = F.gelu(conv(attn.proj_1, block.norm1(x)))
    a1 = conv(sgu.conv0, u, padding=2, groups=d)
    a2 = conv(sgu.conv_spatial, a1, padding=9, dilation=3, groups=d)
    a1, a2 = conv(sgu.conv1, a1), conv(sgu.conv2, a2)
    both = torch.cat([a1, a2], 1)
    sel = torch.sigmoid(conv(sgu.conv_squeeze, torch.cat(
        [both.mean(1, keepdim=True), both.max(1, keepdim=True).values], 1), padding=3))
    lsk = u * conv(sgu.conv, a1 * sel[:, 0:1] + a2 * sel[:, 1:2])
    a = conv(attn.proj_2, lsk) + block.norm1(x)
    if block.freq_scale_1 is not None:
        a = block.freq_scale_1(a) + a
    x = x + block.layer_scale_1.view(-1, 1, 1) * a
    h = mlp.fc1.out_channels
    m = conv(mlp.fc2, F.gelu(conv(mlp.dwconv.dwconv, conv(mlp.fc1, block.norm2(x)), padding=1,
                                  groups=h)))
    if block.freq_scale_2 is not None:
        m = block.freq_scale_2(m) + m
    return x + block.layer_scale_2.view(-1, 1, 1) * m


@pytest.mark.parametrize('freq_scale', [None, dict(GROUP_FS, init_scale=0.5)])
def test_block_matches_spec(freq_scale):
    model = LSKNet(**TINY_ARCH, freq_scale=freq_scale).eval()
    block = model.block2[0]
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        x = torch.randn(2, 32, 9, 12)
        torch.testing.assert_close(block(x), reference_block(block, x), rtol=1e-4, atol=1e-5)


def test_zero_freq_scale_is_the_plain_backbone_and_trains():
    plain = LSKNet(**TINY_ARCH).eval()
    fdam = LSKNet(**TINY_ARCH, freq_scale=dict(GROUP_FS, init_scale=0.0)).eval()
    missing, unexpected = fdam.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all('freq_scale' in k for k in missing)
    x = torch.randn(2, 3, 70, 100)
    outs = fdam(x)
    for out, ref in zip(outs, plain(x)):
        torch.testing.assert_close(out, ref)
    # strides 4, 8, 16, 32 (rounded up) and the stage widths
    assert [tuple(o.shape) for o in outs] == [(2, 16, 18, 25), (2, 32, 9, 13), (2, 64, 5, 7),
                                              (2, 128, 3, 4)]
    sum(o.square().mean() for o in fdam.train()(x)).backward()
    assert fdam.block1[0].freq_scale_1.complex_weights.grad.abs().sum() > 0


def test_out_indices_and_layer_scale_init():
    model = LSKNet(**TINY_ARCH, out_indices=(1, 2))
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [32, 64]
    assert torch.all(model.block3[0].layer_scale_1 == 1e-2)


@pytest.mark.parametrize('option, value', [
    ('embed_dims', []), ('depths', [1, 1, 1]), ('depths', [1, 0, 1, 1]),
    ('mlp_ratios', [4, 4, 4, -1]), ('drop_path_rate', 1.0), ('out_indices', (0, 4)),
    ('norm_cfg', dict(type='LN')), ('freq_scale', dict(mode='bad')),
    ('freq_scale', dict(gruops=16)), ('freq_scale', dict(groups=24)),
    ('init_cfg', dict(type='Pretrained'))])
def test_invalid_options_raise_at_build(option, value):
    with pytest.raises(ValueError, match=option):
        LSKNet(**dict(TINY_ARCH, **{option: value}))


def test_norm_cfg_error_lists_allowed_types():
    with pytest.raises(ValueError, match=r"\('BN', 'BN2d', 'SyncBN'\)"):
        LSKNet(**TINY_ARCH, norm_cfg=dict(type='GN', num_groups=4))


# ---------------------------------------------------------------------------------------------
# Configs and the stock tools

def build_detector(config):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmrotate.registry import MODELS
    cfg = Config.fromfile(config)
    init_default_scope(cfg.default_scope)
    return cfg, MODELS.build(cfg.model)


@pytest.mark.parametrize('config, with_fdam', [(BASELINE, False), (FDAM, True)],
                         ids=['baseline', 'fdam'])
def test_dota_configs_build(config, with_fdam):
    cfg, model = build_detector(config)
    backbone = model.backbone
    assert isinstance(backbone, LSKNet) and backbone.with_freq_scale == with_fdam
    assert num_params(backbone) == lsknet_num_params(**LSK_S,
                                                     freq_scale=GROUP_FS if with_fdam else None)
    assert sum(isinstance(m, FreqScale) for m in backbone.modules()) == (20 if with_fdam else 0)
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    assert (cfg.model.backbone.drop_path_rate, cfg.model.backbone.drop_rate) == (0.1, 0.1)
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
    assert cfg.model.neck.in_channels == [64, 128, 320, 512]
    assert cfg.model.rpn_head.bbox_coder.angle_version == 'le90'
    assert cfg.model.roi_head.bbox_head.num_classes == 15
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == ('AdamW', 1e-4, 0.05)
    assert 'momentum' not in optimizer
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=35, norm_type=2)
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.end) == ('LinearLR', 1 / 3, 500)
    assert (steps.type, steps.milestones) == ('MultiStepLR', [8, 11])
    assert cfg.train_cfg.max_epochs == 12
    assert cfg.train_dataloader.batch_size == 1  # x 8 GPUs, the official LSKNet-S setting
    flip, rotate = [t for t in cfg.train_dataloader.dataset.pipeline
                    if t.type in ('mmdet.RandomFlip', 'RandomRotate')]
    assert (flip.prob, flip.direction) == (0.75, ['horizontal', 'vertical', 'diagonal'])
    assert (rotate.prob, rotate.angle_range, rotate.rect_obj_labels) == (0.5, 180, [9, 11])
    assert cfg.train_dataloader.dataset.data_root == 'data/split_ss_dota/'
    assert cfg.train_dataloader.dataset.type == 'DOTADataset'
    assert tuple(cfg.train_dataloader.dataset.img_shape) == (1024, 1024)
    assert cfg.test_evaluator.type == 'DOTAMetric'


def test_dota_training_pipeline_runs_on_dota_data(demo_root):
    """The official augmentation (flips, rotation; rotation forced here) on the demo DOTA
    patches: rotated boxes stay finite and labelled."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmrotate.registry import DATASETS
    cfg = Config.fromfile(BASELINE)
    init_default_scope('mmrotate')
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = f'{demo_root}/dota/'
    for transform in dataset_cfg.pipeline:
        if transform.type == 'RandomRotate':
            transform.prob = 1.0
    dataset = DATASETS.build(dataset_cfg)
    for index in range(3):
        sample = dataset[index]
        boxes = sample['data_samples'].gt_instances.bboxes.tensor
        assert boxes.shape[-1] == 5 and torch.isfinite(boxes).all()
        assert len(sample['data_samples'].gt_instances.labels) == len(boxes)


SPLIT_TOOL = (Path(sys.executable).parents[1] / 'lib' / f'python{sys.version_info[0]}.'
              f'{sys.version_info[1]}' / 'site-packages' / 'mmrotate' / '.mim' / 'tools' / 'data'
              / 'dota' / 'split' / 'img_split.py')


def test_tiny_lsknet_fdam_trains_resumes_tests_and_writes_submission(demo_root, tmp_path):
    """Stock train (2 iterations), resume, test (DOTA mAP) on the demo DOTA data; then the README's
    submission recipe: split unlabelled images with mmrotate's tool, test with format_only +
    merge_patches, get the Task1 zip with detections merged back onto the original images."""
    _, model = build_detector(TINY)
    assert isinstance(model.backbone, LSKNet) and model.backbone.depths == (1, 1, 1, 1)
    assert model.backbone.with_freq_scale
    value = train_resume_test('mmrotate', TINY, demo_root, tmp_path / 'run')
    assert math.isfinite(value) and 0 <= value <= 1

    # "test set": the demo val images without annotations, cut into 64-pixel patches (gap 16)
    images = Path(demo_root) / 'dota' / 'val' / 'images'
    split = tmp_path / 'split'
    subprocess.run([sys.executable, str(SPLIT_TOOL), '--img-dirs', str(images), '--sizes', '64',
                    '--gaps', '16', '--nproc', '1', '--save-dir', str(split / 'test')],
                   check=True, capture_output=True, cwd=REPO)
    patches = sorted(p.stem for p in (split / 'test' / 'images').glob('*.png'))
    originals = {p.stem for p in images.glob('*.png')}
    assert len(patches) > len(originals) and all('__64__' in p for p in patches)

    prefix = tmp_path / 'submission' / 'Task1'
    options = data_options('mmrotate', demo_root) + [
        f'test_dataloader.dataset.data_root={split}/',
        'test_dataloader.dataset.ann_file=test/annfiles/',
        'test_dataloader.dataset.data_prefix.img_path=test/images/',
        'test_evaluator.format_only=True', 'test_evaluator.merge_patches=True',
        f'test_evaluator.outfile_prefix={prefix}', 'model.test_cfg.rcnn.score_thr=0.0']
    log = mmrun.test(TINY, tmp_path / 'run' / 'iter_3.pth', tmp_path / 'test', options)
    assert f'Iter(test) [{len(patches)}/{len(patches)}]' in log
    with zipfile.ZipFile(prefix / 'Task1.zip') as archive:
        names = archive.namelist()
        lines = [line.split() for name in names
                 for line in archive.read(name).decode().splitlines()]
    assert len(names) == 15 and all(n.startswith('Task1_') and n.endswith('.txt') for n in names)
    assert lines and all(len(fields) == 10 for fields in lines)
    assert {fields[0] for fields in lines} <= originals  # merged: original image ids, no patches
