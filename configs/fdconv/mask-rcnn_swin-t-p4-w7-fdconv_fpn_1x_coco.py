# Mask R-CNN, Swin-T with FDLinear (FDConv on tokens) as the two MLP linears of every block + FPN,
# COCO 2017, 1x (FDConv paper Table 3: AP 44.5). Plain baseline, same recipe:
# mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py (42.7 / 39.3).
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

# The official Swin-T ImageNet weights converted to the FDConv layout (README, "Pretrained
# weights"); mmdet's swin_converter (convert_weights=True) then maps the official names:
#   python tools/convert_to_fdconv.py --model-type swin swin_tiny_patch4_window7_224.pth \
#       checkpoints/swin_tiny_patch4_window7_224_fdconv.pth
pretrained = 'checkpoints/swin_tiny_patch4_window7_224_fdconv.pth'

model = dict(
    backbone=dict(
        type='SwinTransformerFDConv',
        fdlinear_cfg=dict(kernel_num=64),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
