# Faster R-CNN, ResNet-50 with CondConv (8 experts) in the bottleneck convs of the last stage
# (layer4: conv1/conv2/conv3) + FPN, COCO 2017, 1x: FDConv (CVPR 2025) Table 1, +90.0M params,
# AP 38.1.
#
# Which convs: the paper's +90.0M (ODConv's Table 6 row, 133.75M against 43.80M) is exactly 8
# experts on layer4's block convs (+89.98M; README, "Comparison methods"); the CondConv code is
# TensorFlow and has no ResNet detection config. Recipe: the stock mmdet Faster R-CNN 1x one with
# the ODConv configs' backbone settings. Pretrained: an ImageNet CondConv ResNet-50 in the
# torchvision key layout at the path below (none is published).
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

pretrained = 'checkpoints/condconv_resnet50_8x.pth'
model = dict(
    backbone=dict(
        type='ResNetDynamicConv',
        conv_cfg=dict(type='CondConv2d', num_experts=8),
        dynamic_stages=(3, ),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
find_unused_parameters = True
