# Faster R-CNN, ResNet-50 with ODConv (4x: kernel_num=4, reduction 1/16) in every bottleneck
# conv (conv1/conv2/conv3; stem and downsample convs plain) + FPN, COCO 2017, 1x: FDConv
# (CVPR 2025) Table 1, +65.1M params, AP 39.2 (plain baseline: mmdet::faster_rcnn/
# faster-rcnn_r50_fpn_1x_coco.py, 37.2).
#
# The recipe of the ODConv authors' config (OSVAI/ODConv object_detection/configs/odconv/
# faster_rcnn_odconv4x_r50_fpn_1x_coco.py): the stock mmdet Faster R-CNN 1x schedule (SGD lr 0.02,
# 16 images per iteration), frozen_stages=1, norm_eval, find_unused_parameters, temperature 1 (no
# annealing when fine-tuning). Pretrained: the authors' ImageNet od_resnet50 4x checkpoint (their
# README's Google Drive link), whose keys are this backbone's (torchvision layout), at the path
# in _base_/resnet50_backbones.py.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', './_base_/resnet50_backbones.py']

model = dict(backbone={{_base_.odconv_4x}})
