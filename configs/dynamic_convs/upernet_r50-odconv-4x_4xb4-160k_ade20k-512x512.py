# UPerNet, ResNet-50-V1c with ODConv (4x) in every bottleneck conv (conv1/conv2/conv3; deep stem
# and downsample convs plain), ADE20K 512x512, 160k iterations, 4x4 images: FDConv (CVPR 2025)
# Table 2, 131M params in all (plain baseline mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py,
# 66.52M; FDConv 70M: ../fdconv/upernet_r50-fdconv_4xb4-160k_ade20k-512x512.py). The stock mmseg
# recipe; temperature 1. Pretrained: an ImageNet ODConv (4x) ResNet-50-V1c in mmseg's key layout
# at the path below (the authors released a 7x7-stem ResNet-50 only).
_base_ = ['mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

pretrained = 'checkpoints/od_resnet50_v1c_4x.pth'
model = dict(
    pretrained=None,
    backbone=dict(
        type='ResNetV1cDynamicConv',
        conv_cfg=dict(type='ODConv2d', kernel_num=4, reduction=0.0625),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
find_unused_parameters = True
