# Mask R-CNN, ConvNeXt-T with FDLinear (FDConv on tokens) as pwconv1 / pwconv2 of every block +
# FPN, COCO 2017, 1x (FDConv paper Table 3: AP 45.2). Same recipe as the plain baseline
# mask-rcnn_convnext-t_fpn_1x_coco.py.
_base_ = ['./mask-rcnn_convnext-t_fpn_1x_coco.py']

# The official ConvNeXt-T ImageNet weights converted to the FDConv layout (README, "Pretrained
# weights"):
#   python tools/convert_to_fdconv.py --model-type convnext convnext_tiny_1k_224.pth \
#       checkpoints/convnext_tiny_1k_224_fdconv.pth
pretrained = 'checkpoints/convnext_tiny_1k_224_fdconv.pth'

model = dict(
    backbone=dict(
        fdlinear_cfg=dict(kernel_num=64),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
