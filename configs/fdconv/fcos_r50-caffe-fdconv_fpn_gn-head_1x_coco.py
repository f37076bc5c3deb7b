# FCOS, ResNet-50 (caffe style) with FDConv in every bottleneck (conv1/conv2/conv3; stem and
# downsample convs plain) + FPN, GN head, COCO 2017, 1x: the stock recipe of
# mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py (the baseline) unchanged but for the backbone.
# The layer options are those of the FDConv release's Faster R-CNN (kernel_num=64, FBM on 3x3
# convs, local KSM). Not in the FDConv paper: no reference numbers exist.
#
# The baseline's ImageNet weights (open-mmlab://detectron/resnet50_caffe) load as they are: the
# dense bottleneck weights are converted to the Fourier layout on load (one WARNING line says how
# many), KSM / FBM start from their init. frozen_stages=1 freezes the stem and layer1 as in the
# baseline; need_grad_list keeps layer1's KSM / FBM trainable, as the release does.
_base_ = ['mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

fdconv = dict(
    type='FDConv',
    kernel_num=64,
    use_fdconv_if_c_gt=16,
    use_fdconv_if_k_in=[1, 3],
    use_fbm_if_k_in=[3],
    fbm_cfg=dict(k_list=[2, 4, 8]),
    use_ksm_local=True)

model = dict(
    backbone=dict(
        type='ResNetFDConv',
        conv_cfg=fdconv,
        need_grad_list=['KSM', 'FBM']))
