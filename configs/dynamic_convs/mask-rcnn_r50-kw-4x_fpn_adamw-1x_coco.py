# Mask R-CNN, ResNet-50 with KernelWarehouse (4x: cell_num_ratio=4; one warehouse per stage,
# shared by all its block convs and handed over to the next stage's first conv1 and strided
# downsample conv, as the authors' KW_ResNet) + FPN, COCO 2017, 1x: FDConv (CVPR 2025) Table 1,
# +76.5M params, AP 42.4 / APmask 38.9.
#
# The KW (1x) config with cell_num_ratio=4 and the authors' ImageNet KW (4x) ResNet-50: their
# mask_rcnn_kw4x_resnet50_adamw_1x_coco.py has the recipe of their 1x config.
_base_ = ['./mask-rcnn_r50-kw-1x_fpn_adamw-1x_coco.py']

model = dict(
    backbone=dict(
        cell_num_ratio=4,
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/kw4x_resnet50.pth')))
