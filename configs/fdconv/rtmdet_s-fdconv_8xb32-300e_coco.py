# RTMDet-s with FDConv in the CSPNeXt backbone, COCO 2017, 300 epochs: the stock recipe of
# mmdet::rtmdet/rtmdet_s_8xb32-300e_coco.py (the baseline) unchanged but for the backbone.
#
# FDConvBackbone wraps the stock CSPNeXt and makes dynamic, in every stage, the convs of the CSP
# layers (the 1x1 main / short / final convs and, in each CSPNeXt block, the 3x3 conv and the 1x1
# pointwise half of the 5x5 depthwise-separable conv): the convs that a ResNet bottleneck's
# conv1/conv2/conv3 correspond to. The stem, the stride-2 downsample convs, SPPF, the depthwise
# 5x5 convs (groups > 1: FDConv has no grouped form) and the channel attention stay plain. The
# layer options are the FDConv release's detection setting (kernel_num=64, FBM on 3x3 convs,
# local KSM). Not in the FDConv paper: no reference numbers exist.
#
# The stock ImageNet CSPNeXt-s checkpoint loads as it is: its dense conv weights are converted to
# the Fourier layout on load (one WARNING line says how many), KSM / FBM start from their init.
_base_ = ['mmdet::rtmdet/rtmdet_s_8xb32-300e_coco.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

fdconv = dict(
    kernel_num=64,
    use_fdconv_if_c_gt=16,
    use_fdconv_if_k_in=[1, 3],
    use_fbm_if_k_in=[3],
    fbm_cfg=dict(k_list=[2, 4, 8]),
    use_ksm_local=True)

model = dict(
    backbone=dict(
        _delete_=True,
        type='FDConvBackbone',
        backbone={{_base_.model.backbone}},
        layers=dict(names=[
            r'stage\d\.\d\.(main_conv|short_conv|final_conv)\.conv',
            r'stage\d\.\d\.blocks\.\d+\.(conv1|conv2\.pointwise_conv)\.conv',
        ]),
        fdconv_cfg=fdconv))
