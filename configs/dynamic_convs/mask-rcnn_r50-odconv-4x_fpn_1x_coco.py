# Mask R-CNN, ResNet-50 with ODConv (4x) in every bottleneck conv + FPN, COCO 2017, 1x: FDConv
# (CVPR 2025) Table 1, +65.1M params, AP 42.1 / APmask 38.6.
#
# The recipe of the ODConv authors' config (mask_rcnn_odconv4x_r50_fpn_1x_coco.py): the stock mmdet
# Mask R-CNN 1x schedule (SGD), frozen_stages=1, norm_eval, find_unused_parameters, temperature
# 1. Pretrained: as faster-rcnn_r50-odconv-4x_fpn_1x_coco.py.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', './_base_/resnet50_backbones.py']

model = dict(backbone={{_base_.odconv_4x}})
