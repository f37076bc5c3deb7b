# Mask R-CNN, ConvNeXt-T + FPN, COCO 2017, 1x: the recipe of the official ConvNeXt detection
# release (AdamW lr 1e-4, wd 0.05, layer-wise lr decay 0.95 over 6 layers, drop path 0.4,
# multi-scale + crop, fp16; reported 44.2 / 40.1). mmdet's own ConvNeXt configs need mmpretrain;
# this uses mmfreq's ConvNeXt, whose names match the official ImageNet checkpoint.
# Plain baseline of mask-rcnn_convnext-t-fdconv_fpn_1x_coco.py.
_base_ = ['./mask-rcnn_r50_fpn_adamw-1x_coco.py']

pretrained = 'https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224.pth'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ConvNeXt',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[96, 192, 384, 768]))

optim_wrapper = dict(
    constructor='LearningRateDecayOptimizerConstructor',
    paramwise_cfg=dict(_delete_=True, decay_rate=0.95, decay_type='layer_wise', num_layers=6))
