# Mask2Former, ResNet-50 with FDConv in every bottleneck (conv1/conv2/conv3; stem and downsample
# convs plain, as in faster-rcnn_r50-fdconv_fpn_1x_coco.py), Cityscapes 512x1024 crops, 90k
# iterations, 8x2 images: FDConv paper Table 4, 79.4 -> 80.4 mIoU. Plain baseline, same recipe:
# mmseg::mask2former/mask2former_r50_8xb2-90k_cityscapes-512x1024.py (mmseg's model zoo: 80.44).
_base_ = ['mmseg::mask2former/mask2former_r50_8xb2-90k_cityscapes-512x1024.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

# The stock config's torchvision://resnet50 converted to the FDConv layout (README, "Pretrained
# weights"):
#   python tools/convert_to_fdconv.py --model-type resnet resnet50-0676ba61.pth \
#       checkpoints/resnet50_fdconv.pth
pretrained = 'checkpoints/resnet50_fdconv.pth'
fdconv = dict(
    type='FDConv',
    kernel_num=64,  # the setting of the release's detection configs
    use_fdconv_if_c_gt=16,
    use_fdconv_if_k_in=[1, 3],
    use_fbm_if_k_in=[3],  # Frequency Band Modulation on the 3x3 convs
    fbm_cfg=dict(k_list=[2, 4, 8]),
    use_ksm_local=True)  # Kernel Spatial Modulation: global and local branches

model = dict(
    backbone=dict(
        type='ResNetFDConv',  # mmseg's ResNet (7x7 stem, as the stock config) with FDConv blocks
        conv_cfg=fdconv,
        need_grad_list=['KSM', 'FBM'],  # stay trainable in frozen stages (none frozen here)
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
