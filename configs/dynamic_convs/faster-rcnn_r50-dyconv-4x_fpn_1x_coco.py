# Faster R-CNN, ResNet-50 with DY-Conv (K = 4) in every conv but the stem (bottleneck conv1/conv2/
# conv3 and the downsample 1x1 convs, as the DY-Conv paper's DY-ResNet and the reference code do)
# + FPN, COCO 2017, 1x: FDConv (CVPR 2025) Table 1, +75.3M params, AP 38.3.
#
# DY-Conv's authors released no code or detection config; the recipe is the stock mmdet Faster
# R-CNN 1x one with the same backbone settings as the ODConv configs (frozen_stages=1, norm_eval,
# find_unused_parameters), softmax temperature 1 when fine-tuning (the paper anneals 30 -> 1 over
# the first 10 ImageNet epochs: TemperatureScheduleHook). Pretrained: an ImageNet DY-ResNet-50 in
# the torchvision key layout (_base_/resnet50_backbones.py) (none is published).
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', './_base_/resnet50_backbones.py']

model = dict(backbone={{_base_.dyconv_4x}})
