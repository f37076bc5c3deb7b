"""FDConvBackbone (FDConv / FDLinear in any backbone by name, stage and kernel size), converting
plain weights on every mm load path, the ``need_grad_list`` semantics under frozen stages, the
build-time warning when a plain backbone's frozen stages freeze FDConv's dynamic parameters, and
the errors for layer choices FDConv cannot make."""
import copy
import re

import pytest
import torch
from mmrun import NEEDS_MMYOLO
from torch import nn

import mmfreq  # noqa: F401  (registrations)
from mmdet.registry import MODELS as DET_MODELS
from mmengine.registry import MODELS
from mmengine.runner import Runner
from mmfreq.layers import FDConv, FDLinear
from mmfreq.layers.fdconv_conversion import convert_state_dict_to_fdconv
from mmfreq.models import run_reports
from mmfreq.models.fdconv_backbone import FDConvBackbone

FDCONV = dict(kernel_num=8, use_ksm_local=True)
RESNET = dict(type='mmdet.ResNet', depth=50, base_channels=16)
RESNET_CONVS = r'layer\d\.\d+\.conv[123]'


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def warnings_logged(monkeypatch):
    """The WARNING lines mmfreq writes into the run log."""
    messages = []
    monkeypatch.setattr(run_reports, '_warn', messages.append)
    return messages


def wrap(backbone, names=RESNET_CONVS, **kwargs):
    return FDConvBackbone(backbone=backbone, layers=dict(names=names), fdconv_cfg=FDCONV,
                          **kwargs)


def dynamic(model, kind=(FDConv, FDLinear)):
    return {n: m for n, m in model.named_modules() if isinstance(m, kind) and m.is_fdconv}


def test_resnet_layers_replaced_and_checkpoints_keep_the_plain_layout():
    model = wrap(RESNET)
    # stage 1 is 16 channels wide at base_channels=16: FDConv's fallback rule keeps it plain
    assert model.fdconv_layers == [n for n, _ in model.backbone.named_modules()
                                   if n.startswith(('layer2', 'layer3', 'layer4'))
                                   and n.rsplit('.', 1)[-1] in ('conv1', 'conv2', 'conv3')]
    assert len(dynamic(model)) == len(model.fdconv_layers) == 3 * (4 + 6 + 3)
    plain = MODELS.build(RESNET)
    keys = set(model.state_dict())
    for key in plain.state_dict():
        name = key.rsplit('.', 1)[0]
        assert key in keys or (name in model.fdconv_layers and f'{name}.dft_weight' in keys), key
    assert not any(k.startswith('backbone.') for k in keys)  # no extra level
    copy.deepcopy(model).load_state_dict(model.state_dict())  # strict round trip
    x = torch.randn(2, 3, 64, 64)
    assert [o.shape for o in model(x)] == [o.shape for o in plain(x)]


def test_plain_checkpoint_converted_on_load_equals_the_tool(tmp_path, warnings_logged):
    plain = MODELS.build(RESNET).state_dict()
    converted, names = convert_state_dict_to_fdconv(plain, 'resnet')
    models = []
    for checkpoint in (plain, converted):  # init_cfg Pretrained: mmengine's load_checkpoint
        path = tmp_path / f'resnet_{len(models)}.pth'
        torch.save({'state_dict': checkpoint}, path)
        torch.manual_seed(1)
        model = wrap(dict(RESNET, init_cfg=dict(type='Pretrained', checkpoint=str(path))))
        model.init_weights()
        models.append(model.eval())
    on_load, tool_first = models
    assert len(warnings_logged) == 1  # the tool's checkpoint has nothing left to convert
    assert f'of {len(on_load.fdconv_layers)} FDConv/FDLinear layer(s)' in warnings_logged[0]
    assert set(on_load.fdconv_layers) <= set(names)
    state = tool_first.state_dict()
    for key, value in on_load.state_dict().items():
        assert torch.equal(value, state[key]), key
    x = torch.randn(1, 3, 64, 64)
    for a, b in zip(on_load(x), tool_first(x)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize('layout', ['torchvision', 'open-mmlab-v1c'])
def test_standard_resnet_layouts_load_directly(layout, tmp_path, warnings_logged):
    """The key layouts of torchvision://resnet50 (with its fc) and open-mmlab://resnet50_v1c
    (deep stem) into the registered ResNet-FDConv backbones, via init_cfg."""
    if layout == 'torchvision':
        plain = MODELS.build(RESNET).state_dict()
        plain.update({'fc.weight': torch.randn(10, 512), 'fc.bias': torch.zeros(10)})
        config = dict(type='mmdet.ResNetFDConv', depth=50, base_channels=16,
                      conv_cfg=dict(type='FDConv', **FDCONV))
    else:
        plain = MODELS.build(dict(type='mmseg.ResNetV1c', depth=50, base_channels=16)).state_dict()
        config = dict(type='mmseg.ResNetV1cFDConv', depth=50, base_channels=16,
                      conv_cfg=dict(type='FDConv', **FDCONV))
    path = tmp_path / f'{layout}.pth'
    torch.save(plain, path)  # torchvision's files are bare state dicts
    model = MODELS.build(dict(config, init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    model.init_weights()
    layers = dynamic(model)
    assert len(warnings_logged) == 1 and f'of {len(layers)} FDConv' in warnings_logged[0]
    for name, layer in layers.items():
        expected, _ = convert_state_dict_to_fdconv({f'{name}.weight': plain[f'{name}.weight']},
                                                   'resnet')
        assert torch.equal(layer.dft_weight, expected[f'{name}.dft_weight']), name


def test_frozen_stages_keep_ksm_and_fbm_trainable():
    model = wrap(dict(RESNET, frozen_stages=2))
    for mode in (None, True, False, True):
        if mode is not None:
            model.train(mode)
        for name, param in model.backbone.layer2.named_parameters():
            dynamic_param = 'KSM' in name or 'FBM' in name
            assert param.requires_grad == dynamic_param, name
        assert all(p.requires_grad for p in model.backbone.layer3.parameters())
        assert not any(p.requires_grad for p in model.backbone.conv1.parameters())
    assert not model.backbone.layer2.training  # frozen stages stay in eval mode
    assert run_reports.frozen_dynamic_parameters(model) == []
    frozen_all = wrap(dict(RESNET, frozen_stages=2), need_grad_list=[])
    frozen_all.train()
    assert not any(p.requires_grad for p in frozen_all.backbone.layer2.parameters())


@pytest.mark.parametrize('builder', ['registry', 'runner'])
def test_stock_backbone_with_frozen_fdconv_warns_once_at_build(builder, warnings_logged):
    """Without the wrapper, frozen_stages freezes FDConv's dynamic parameters: one warning, when
    the model is built (a codebase's registry or the Runner), naming the option that keeps them
    trainable."""
    config = dict(type='mmdet.ResNet', depth=50, frozen_stages=1,
                  conv_cfg=dict(type='FDConv', kernel_num=4))
    if builder == 'registry':
        model = DET_MODELS.build(config)
    else:
        model = Runner.build_model(None, config)  # Runner.build_model does not use the runner
    frozen = run_reports.frozen_dynamic_parameters(model)
    expected = [f'layer1.{name}' for name, _ in model.layer1.named_parameters()
                if 'KSM_' in name or 'FBM.' in name]
    # 3 x 3 block convs (50 per block) and the downsample conv (14): conv_cfg builds it too
    assert frozen == expected and len(frozen) == 164
    assert len(warnings_logged) == 1
    assert '164 dynamic parameters (KSM / FBM) of 10 FDConv/FDLinear layers' in warnings_logged[0]
    assert "type='FDConvBackbone'" in warnings_logged[0]
    assert "need_grad_list=['KSM', 'FBM']" in warnings_logged[0]
    Runner.build_model(None, dict(config, frozen_stages=-1))
    # conv_cfg built the downsample convs as FDConv too: the wrapper's choice includes them
    keep_trainable = dict(names=r'layer\d\.\d+\.(conv[123]|downsample\.0)')
    Runner.build_model(None, dict(type='FDConvBackbone', backbone=config, layers=keep_trainable))
    FDConvBackbone(backbone=config, layers=keep_trainable)  # built directly, not by a registry
    assert len(warnings_logged) == 1  # nothing frozen, or kept trainable: no warning
    # a detector built around the frozen backbone: one warning for the whole model
    DET_MODELS.build(dict(type='mmdet.RetinaNet', backbone=config, neck=dict(
        type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=32, num_outs=5),
        bbox_head=dict(type='RetinaHead', num_classes=2, in_channels=32, feat_channels=32,
                       anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                             scales_per_octave=3, ratios=[1.0],
                                             strides=[8, 16, 32, 64, 128]),
                       bbox_coder=dict(type='DeltaXYWHBBoxCoder'))))
    assert len(warnings_logged) == 2 and '164 dynamic parameters' in warnings_logged[1]


def test_cspnext_without_conv_cfg_stage_and_kernel_choice():
    cspnext = dict(type='mmdet.CSPNeXt', deepen_factor=0.33, widen_factor=0.25)
    model = FDConvBackbone(backbone=cspnext, layers=dict(stages=[3, 4], kernel_sizes=[3]),
                           fdconv_cfg=FDCONV)
    assert model.fdconv_layers and all(n.startswith(('stage3.', 'stage4.'))
                                       for n in model.fdconv_layers)
    assert all(m.kernel_size == (3, 3) for m in dynamic(model).values())
    outs = model(torch.randn(2, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [64, 128, 256]
    sum(o.mean() for o in outs).backward()
    assert all(p.grad is not None for m in dynamic(model).values()
               for n, p in m.named_parameters() if 'KSM_Global.kernel_fc' in n)


def test_swin_mlp_linears_become_fdlinear():
    swin = dict(type='mmdet.SwinTransformer', embed_dims=32, depths=[1, 1, 1, 1],
                num_heads=[1, 2, 4, 8], window_size=4, frozen_stages=1)
    model = FDConvBackbone(backbone=swin,
                           layers=dict(names=r'stages\.\d\.blocks\.\d\.ffn\.layers\.(0\.0|1)'),
                           fdconv_cfg=FDCONV)
    layers = dynamic(model, FDLinear)
    assert len(layers) == len(model.fdconv_layers) == 8
    model.train()
    frozen = model.backbone.stages[0].blocks[0].ffn.layers[1]
    assert not frozen.dft_weight.requires_grad and frozen.KSM_Global.fc.weight.requires_grad
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [32, 64, 128, 256]


@NEEDS_MMYOLO
def test_yolov8_csp_darknet_batch_one_probe_and_training_forward():
    darknet = dict(type='mmyolo.YOLOv8CSPDarknet', deepen_factor=0.33, widen_factor=0.25)
    names = [r'stage\d\.1\.(main_conv|final_conv)\.conv',
             r'stage\d\.1\.blocks\.\d+\.conv[12]\.conv']
    model = FDConvBackbone(backbone=darknet, layers=dict(names=names), fdconv_cfg=FDCONV)
    plain = MODELS.build(darknet)  # YOLOv8CSPDarknet has no conv_cfg: the wrapper is the way in
    expected = [n for n, m in plain.named_modules() if isinstance(m, nn.Conv2d)
                and any(re.fullmatch(p, n) for p in names)
                and min(m.in_channels, m.out_channels) > 16]
    assert expected and model.fdconv_layers == expected
    model.train()
    outs = model(torch.zeros(1, 3, 256, 256))  # a batch of one in training mode, as a probe
    assert [256 // o.shape[-1] for o in outs] == [8, 16, 32]
    assert all(torch.isfinite(o).all() for o in outs)


@pytest.mark.parametrize('layers, message', [
    (dict(names=r'layer\d\.\d+\.conv9'), r"layers.names 'layer\\\\d.*conv9' matches no"),
    (dict(names=RESNET_CONVS, stages=[5]), 'cannot tell stage 5 of ResNet'),
    (dict(names=r'layer1\.\d+\.conv[123]'), 'chooses no layer of ResNet that FDConv makes'),
    (dict(name=RESNET_CONVS), r"unknown layers keys \['name'\]; allowed"),
])
def test_layer_choices_that_cannot_work_fail_at_build(layers, message):
    with pytest.raises(ValueError, match=message):
        FDConvBackbone(backbone=RESNET, layers=layers, fdconv_cfg=FDCONV)


def test_a_grouped_conv_is_refused_naming_the_layer():
    cspnext = dict(type='mmdet.CSPNeXt', deepen_factor=0.33, widen_factor=0.5)
    with pytest.raises(ValueError, match=r"layer 'stage1\.1\.blocks\.0\.conv2\.depthwise_conv"
                                         r"\.conv' .* cannot become dynamic: .*groups=32"):
        FDConvBackbone(backbone=cspnext, layers=dict(names=r'.*depthwise_conv\.conv',
                                                     kernel_sizes=[5]), fdconv_cfg=FDCONV)
    with pytest.raises(ValueError, match='ksm_local_act'):
        FDConvBackbone(backbone=RESNET, layers=dict(names=RESNET_CONVS),
                       fdconv_cfg=dict(ksm_local_act='relu'))


def test_the_wrapper_reports_one_conversion_for_a_torch_load(caplog):
    model = wrap(RESNET)
    plain = MODELS.build(RESNET).state_dict()
    with caplog.at_level('WARNING', logger='mmfreq'):
        result = model.load_state_dict(plain, strict=False)
    assert not result.unexpected_keys
    lines = [r for r in caplog.records if 'converted the dense' in r.getMessage()]
    assert len(lines) == 1 and f'of {len(model.fdconv_layers)} FDConv' in lines[0].getMessage()
    assert isinstance(model.backbone.layer2[0].conv2, nn.Conv2d)  # still a Conv2d drop-in
