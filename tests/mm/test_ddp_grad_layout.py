"""Gradients have their parameters' layout (DDP's gradient buckets are views with the parameters'
strides; a gradient with other strides costs a copy every step and a warning). The 2-process run
that checks the warning is absent is in test_stock_tools.py; this names the parameters."""
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmfreq  # noqa: F401
from mmrun import CONFIGS


def test_fdconv_resnet_gradients_have_parameter_strides():
    from mmseg.registry import MODELS
    config = CONFIGS / 'demo' / 'upernet_r50-fdconv-tiny_40it_demo-ade20k-64x64.py'
    cfg = Config.fromfile(str(config))
    init_default_scope('mmseg')
    backbone = cfg.model.backbone
    backbone.norm_cfg = dict(type='BN', requires_grad=True)
    model = MODELS.build(backbone)
    model.train()
    torch.manual_seed(0)
    sum(out.square().mean() for out in model(torch.randn(2, 3, 64, 64))).backward()
    params = dict(model.named_parameters())
    assert all(p.grad is not None for p in params.values())
    assert any('FBM' in name for name in params) and any('KSM' in name for name in params)
    mismatched = {name: (p.stride(), p.grad.stride()) for name, p in params.items()
                  if p.grad.stride() != p.stride()}
    assert not mismatched, f'(parameter strides, gradient strides): {mismatched}'
