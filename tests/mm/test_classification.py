"""ImageNet classification with FDConv (configs/classification/): mmpretrain's ResNet-50 with
FDConv block convs, its parameter cost against the stock baseline, and a tiny train / test through
mmpretrain's stock tools on the demo ImageNet."""
import importlib.util
import sys

import pytest
from mmengine.config import Config
from mmrun import CONFIGS, assert_finite_losses, load_checkpoint, num_params, run


def _classification_unavailable():
    if importlib.util.find_spec('mmpretrain') is None:
        return ('mmpretrain is not installed (extra [cls]; the latest stack has no torchvision '
                'built for its CPU torch, see configs/classification/README.md)')
    try:
        import torchvision.ops  # noqa: F401
        import mmpretrain.models  # noqa: F401
    except (ImportError, RuntimeError) as error:
        return f'mmpretrain does not import with this torchvision ({error})'
    return None


pytestmark = pytest.mark.skipif(_classification_unavailable() is not None,
                                reason=str(_classification_unavailable()))
CLS = CONFIGS / 'classification'


def _build(cfg_model, registry_scope):
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope(registry_scope):
        return MODELS.build(cfg_model)


def test_fdconv_resnet50_costs_what_the_detection_backbone_costs():
    from mmfreq.analysis.complexity import load_config
    cfg = Config.fromfile(str(CLS / 'resnet50-fdconv_8xb32_in1k.py'))
    base = load_config('mmpretrain::resnet/resnet50_8xb32_in1k.py')
    fdconv, plain = _build(cfg.model, 'mmpretrain'), _build(base.model, 'mmpretrain')
    assert num_params(plain) == 25_557_032  # torchvision's ResNet-50
    delta = num_params(fdconv) - num_params(plain)
    # the same FDConv blocks as every ResNet-50 + FDConv: what mmseg's 7x7-stem variant adds
    from mmseg.models.backbones import ResNet
    from mmseg.registry import MODELS as SEG_MODELS
    seg = SEG_MODELS.build(dict(type='ResNetFDConv', depth=50, conv_cfg=cfg.fdconv))
    assert delta == num_params(seg) - num_params(ResNet(depth=50))
    assert 3.4e6 < delta < 3.7e6  # the paper's "+3.6M" for ResNet-50


def test_tiny_classifier_trains_and_tests_with_the_stock_tools(tmp_path):
    from mmfreq.demo_data.imagenet import make_imagenet
    root = make_imagenet(tmp_path / 'data', num_train=4, num_val=4, size=64)
    config = CLS / 'resnet50-fdconv-tiny_40it_demo-imagenet-64.py'
    work = tmp_path / 'work'
    log = run([sys.executable, 'tools/train.py', str(config), '--data-root', root, '--work-dir',
               str(work), '--cfg-options', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
               'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1'])
    assert_finite_losses(log, 2)
    assert 'accuracy/top1:' in log
    assert load_checkpoint(work / 'iter_2.pth')['meta']['iter'] == 2
    log = run([sys.executable, 'tools/test.py', str(config), str(work / 'iter_2.pth'), '--data-root',
               root, '--work-dir', str(work)])
    assert 'accuracy/top1:' in log
