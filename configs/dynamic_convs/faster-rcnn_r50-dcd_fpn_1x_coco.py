# Faster R-CNN, ResNet-50 with DCD (dynamic convolution decomposition) in every bottleneck conv
# (conv1/conv2/conv3, as the authors' resnet50_dcd) + FPN, COCO 2017, 1x: FDConv (CVPR 2025)
# Table 1, +4.3M params, AP 38.1. Our backbone adds 4.05M: the paper's 4.3M is the ImageNet
# model's, whose dynamic classifier (DYCls, +0.23M) a detector does not have (README).
#
# Recipe: the stock mmdet Faster R-CNN 1x one with the ODConv configs' backbone settings.
# Pretrained: the authors' ImageNet resnet50_dcd checkpoint (liyunsheng13/dcd README), whose keys
# are this backbone's, at the path below.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

pretrained = 'checkpoints/resnet50_dcd.pth'
model = dict(
    backbone=dict(
        type='ResNetDynamicConv',
        conv_cfg=dict(type='DCDConv2d'),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
find_unused_parameters = True
