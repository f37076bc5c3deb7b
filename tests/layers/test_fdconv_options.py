"""FDConv's options: every name of the release is accepted, each is declared and documented once,
and the release's own detection configs build the release's layer."""
import pydoc

import pytest
import torch

from mmfreq.layers import FBM_OPTIONS, FDCONV_OPTIONS, FDConv, FDLinear
from mmfreq.layers.fdconv_conversion import convert_state_dict_to_fdconv

# conv_cfg of the release's faster_rcnn_r50_fpn_1x_coco_FDConv.py, as data (Python keeps the
# last of a repeated key: temp=None)
RELEASE_FASTER_RCNN_CONV_CFG = {
    'type': 'FDConv', 'kernel_num': 64, 'use_fdconv_if_c_gt': 16, 'use_fdconv_if_k_in': [1, 3],
    'use_fbm_if_k_in': [3], 'temp': 1, 'att_multi': 2.0, 'param_ratio': 1,
    'param_reduction': 1.0, 'kernel_temp': 1.0, 'temp': None, 'att_multi': 2.0,  # noqa: F601
    'ksm_only_kernel_att': False, 'use_ksm_local': True, 'ksm_local_act': 'sigmoid',
    'ksm_global_act': 'sigmoid', 'spatial_freq_decompose': False, 'convert_param': True,
    'linear_mode': False,
    'fbm_cfg': {'k_list': [2, 4, 8], 'lowfreq_att': False, 'fs_feat': 'feat', 'act': 'sigmoid',
                'spatial': 'conv', 'spatial_group': 1, 'spatial_kernel': 3, 'init': 'zero'},
}
# conv_cfg of the release's mask_rcnn_r50_fpn_1x_coco_adamw_FDConv.py: the same plus
# use_fbm_for_stride
RELEASE_MASK_RCNN_CONV_CFG = {
    'type': 'FDConv', 'kernel_num': 64, 'use_fdconv_if_c_gt': 16, 'use_fdconv_if_k_in': [1, 3],
    'use_fbm_if_k_in': [3], 'use_fbm_for_stride': False, 'temp': 1, 'att_multi': 2.0,
    'param_ratio': 1, 'param_reduction': 1.0, 'kernel_temp': 1.0, 'temp': None,  # noqa: F601
    'att_multi': 2.0, 'ksm_only_kernel_att': False, 'use_ksm_local': True,  # noqa: F601
    'ksm_local_act': 'sigmoid', 'ksm_global_act': 'sigmoid', 'spatial_freq_decompose': False,
    'convert_param': True, 'linear_mode': False,
    'fbm_cfg': {'k_list': [2, 4, 8], 'lowfreq_att': False, 'fs_feat': 'feat', 'act': 'sigmoid',
                'spatial': 'conv', 'spatial_group': 1, 'spatial_kernel': 3, 'init': 'zero'},
}
# every option name of the release's FDConv.__init__ and of its default fbm_cfg
RELEASE_OPTION_NAMES = [
    'reduction', 'kernel_num', 'use_fdconv_if_c_gt', 'use_fdconv_if_k_in',
    'use_fdconv_if_stride_in', 'use_fbm_if_k_in', 'use_fbm_for_stride', 'kernel_temp', 'temp',
    'att_multi', 'param_ratio', 'param_reduction', 'ksm_only_kernel_att', 'att_grid',
    'use_ksm_local', 'ksm_local_act', 'ksm_global_act', 'spatial_freq_decompose',
    'convert_param', 'linear_mode', 'fbm_cfg']
RELEASE_FBM_NAMES = ['k_list', 'lowfreq_att', 'fs_feat', 'act', 'spatial', 'spatial_group',
                     'spatial_kernel', 'init', 'global_selection']


def _randomize(module):
    with torch.no_grad():
        for name, param in module.named_parameters():
            if 'KSM' in name or 'FBM' in name:
                param.add_(torch.randn_like(param) * 0.5)


def _same_function(layer, reference, shape):
    reference.load_state_dict(layer.state_dict(), strict=True)
    x = torch.randn(shape)
    for mode in (True, False):
        layer.train(mode)
        reference.train(mode)
        torch.testing.assert_close(layer(x), reference(x), rtol=0, atol=0)


@pytest.mark.parametrize('conv_cfg', [RELEASE_FASTER_RCNN_CONV_CFG, RELEASE_MASK_RCNN_CONV_CFG],
                         ids=['faster-rcnn', 'mask-rcnn'])
@pytest.mark.parametrize('shape', [(64, 64, 3, 1), (256, 64, 1, 1), (128, 128, 3, 2)])
def test_release_conv_cfg_builds_the_release_layer(conv_cfg, shape):
    """Each release conv_cfg builds (ResNet-50 bottleneck shapes) and means exactly
    kernel_num=64 with every other option at its release default."""
    options = {key: value for key, value in conv_cfg.items() if key != 'type'}
    in_channels, out_channels, k, stride = shape
    torch.manual_seed(0)
    layer = FDConv(in_channels, out_channels, k, stride=stride, padding=k // 2, **options)
    assert layer.is_fdconv and layer.kernel_num == 64
    assert (layer.FBM is not None) == (k == 3)
    if layer.FBM is not None:
        assert layer.FBM.k_list == [2, 4, 8]
    assert layer.KSM_Global.temp == layer.KSM_Global.kernel_temp == 1.0  # temp=None wins
    _randomize(layer)
    reference = FDConv(in_channels, out_channels, k, stride=stride, padding=k // 2, kernel_num=64)
    _same_function(layer, reference, (2, in_channels, 9, 9))


def test_every_release_option_name_is_accepted_and_declared_once():
    names = [o.name for o in FDCONV_OPTIONS]
    assert len(names) == len(set(names)) and set(RELEASE_OPTION_NAMES) <= set(names)
    fbm_names = [o.name for o in FBM_OPTIONS]
    assert len(fbm_names) == len(set(fbm_names)) and set(RELEASE_FBM_NAMES) <= set(fbm_names)
    for option in (*FDCONV_OPTIONS, *FBM_OPTIONS):
        assert option.doc and not option.doc.endswith('.')


def test_options_the_release_never_reads_change_nothing():
    torch.manual_seed(0)
    layer = FDConv(32, 32, 3, padding=1, kernel_num=4, att_grid=3,
                   use_fdconv_if_stride_in=[1, 2],
                   fbm_cfg=dict(k_list=[2, 4, 8], fs_feat='other', global_selection=True))
    _randomize(layer)
    _same_function(layer, FDConv(32, 32, 3, padding=1, kernel_num=4), (2, 32, 8, 8))


def test_help_shows_every_option_with_its_meaning():
    for layer in (FDConv, FDLinear):
        text = pydoc.render_doc(layer)
        for option in (*FDCONV_OPTIONS, *FBM_OPTIONS):
            assert f'{option.name} (default' in text or option.name == 'fbm_cfg', option.name
            assert option.doc[:40] in text.replace('\n', ' '), option.name
        assert 'kernel_num=4' in text  # the signature lists the options with their defaults


def test_conversion_defaults_are_the_option_defaults():
    state = {'layer1.0.conv2.weight': torch.randn(64, 64, 3, 3),
             'layer1.0.conv1.weight': torch.randn(16, 64, 1, 1)}  # min(in, out) = 16: plain
    converted, names = convert_state_dict_to_fdconv(state, 'resnet')
    assert names == ['layer1.0.conv2']
    assert converted['layer1.0.conv2.dft_weight'].shape == (1, 192, 97, 2)
    reduced, _ = convert_state_dict_to_fdconv(state, 'resnet', param_reduction=0.5)
    assert reduced['layer1.0.conv2.dft_weight'].shape == (1, 192 * 97 // 2, 2)
