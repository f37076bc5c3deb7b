# Mask R-CNN, ResNet-50 with DY-Conv (K = 4; backbone as faster-rcnn_r50-dyconv-4x_fpn_1x_coco.py)
# + FPN, COCO 2017, 1x: FDConv (CVPR 2025) Table 1, +75.3M params, AP 39.6 / APmask 36.6. Recipe:
# the stock mmdet Mask R-CNN 1x one (see the Faster R-CNN config for the backbone settings).
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', './_base_/resnet50_backbones.py']

model = dict(backbone={{_base_.dyconv_4x}})
