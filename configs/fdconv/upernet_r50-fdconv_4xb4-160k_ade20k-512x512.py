# UPerNet, ResNet-50-V1c with FDConv in every bottleneck (conv1/conv2/conv3; stem and downsample
# convs plain), ADE20K 512x512, 160k iterations, 4x4 images: FDConv (CVPR 2025) reports 70M params,
# 43.8 mIoU single scale. Plain baseline: mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py
# (66.52M). The release defaults (kernel_num=4, param_ratio=1) add 3.56M: 70.08M in all.
_base_ = ['mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

# mmseg's ImageNet ResNet-50-V1c (open-mmlab://resnet50_v1c) converted to the FDConv layout:
#   python tools/convert_to_fdconv.py --model-type resnet resnet50_v1c-2cccc1ad.pth \
#       checkpoints/resnet50_v1c_fdconv.pth
pretrained = 'checkpoints/resnet50_v1c_fdconv.pth'
fdconv = dict(
    type='FDConv',
    kernel_num=4,  # the release default (its detection configs use 64)
    use_fdconv_if_c_gt=16,
    use_fdconv_if_k_in=[1, 3],
    use_fbm_if_k_in=[3],  # Frequency Band Modulation on the 3x3 convs
    fbm_cfg=dict(k_list=[2, 4, 8]),
    use_ksm_local=True)  # Kernel Spatial Modulation: global and local branches

model = dict(
    pretrained=None,
    backbone=dict(
        type='ResNetV1cFDConv',
        conv_cfg=fdconv,
        need_grad_list=['KSM', 'FBM'],  # stay trainable in frozen stages (none frozen here)
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
