"""Deployment: a backbone with FDConv and one with FDAM export to ONNX (torch.onnx.export with
dynamo=True) and run in onnxruntime with the outputs of torch (docs/deploy.md)."""
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

import mmfreq  # noqa: F401  (registrations)

ort = pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')


def _export_and_compare(model, x, tmp_path):
    model.eval()
    program = torch.onnx.export(model, (x,), dynamo=True)
    path = tmp_path / 'model.onnx'
    program.save(str(path))
    session = ort.InferenceSession(str(path))
    outputs = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected = model(x)
    expected = expected if isinstance(expected, (tuple, list)) else [expected]
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected):
        want = want.numpy()
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def test_resnet_fdconv_backbone_runs_in_onnxruntime(tmp_path):
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    torch.manual_seed(0)
    backbone = MODELS.build(dict(type='ResNetFDConv', depth=18, num_stages=2, strides=(1, 2),
                                 dilations=(1, 1), base_channels=32, out_indices=(0, 1),
                                 conv_cfg=dict(type='FDConv', kernel_num=4), norm_eval=False))
    _export_and_compare(backbone, torch.randn(1, 3, 64, 64), tmp_path)


def test_vit_fdam_backbone_runs_in_onnxruntime(tmp_path):
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(0)
    backbone = MODELS.build(dict(type='VisionTransformerFDAM', img_size=(64, 64), patch_size=16,
                                 embed_dims=64, num_layers=2, num_heads=4, out_indices=(0, 1),
                                 attn_inv=True, freq_scale=dict(mode='group', num_filters=4,
                                                                groups=4, init_scale=0.1)))
    _export_and_compare(backbone, torch.randn(1, 3, 64, 80), tmp_path)
