# Mask R-CNN, ResNet-50 with FDConv (as faster-rcnn_r50-fdconv_fpn_1x_coco.py) + FPN, COCO 2017,
# 1x: the FDConv release recipe (AdamW, multi-scale + crop, fp16; see the plain baseline
# mask-rcnn_r50_fpn_adamw-1x_coco.py). Paper Table 2: +3.6M params, AP 42.4 / APmask 38.6.
_base_ = ['./mask-rcnn_r50_fpn_adamw-1x_coco.py']

# torchvision's ImageNet ResNet-50 converted to the FDConv layout (README, "Pretrained weights"):
#   python tools/convert_to_fdconv.py --model-type resnet resnet50-0676ba61.pth \
#       checkpoints/resnet50_fdconv.pth
pretrained = 'checkpoints/resnet50_fdconv.pth'
fdconv = dict(
    type='FDConv',
    kernel_num=64,
    use_fdconv_if_c_gt=16,
    use_fdconv_if_k_in=[1, 3],
    use_fbm_if_k_in=[3],
    fbm_cfg=dict(k_list=[2, 4, 8]),
    use_ksm_local=True)

model = dict(
    backbone=dict(
        type='ResNetFDConv',
        conv_cfg=fdconv,
        need_grad_list=['KSM', 'FBM'],
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
