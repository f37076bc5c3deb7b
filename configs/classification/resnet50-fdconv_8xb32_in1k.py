# ImageNet-1k classification, ResNet-50 with FDConv in every bottleneck conv (conv1/conv2/conv3;
# stem and downsample convs plain), mmpretrain's stock recipe: 8x32 images, SGD, 100 epochs,
# 224x224.
# Baseline: mmpretrain::resnet/resnet50_8xb32_in1k.py (25.56M params); the release defaults below
# (kernel_num=4, param_ratio=1) add what `tools/paper_tables.py` counts (README "Classification").
_base_ = ['mmpretrain::resnet/resnet50_8xb32_in1k.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

fdconv = dict(
    type='FDConv',
    kernel_num=4,
    use_fdconv_if_c_gt=16,
    use_fdconv_if_k_in=[1, 3],
    use_fbm_if_k_in=[3],  # Frequency Band Modulation on the 3x3 convs
    fbm_cfg=dict(k_list=[2, 4, 8]),
    use_ksm_local=True)  # Kernel Spatial Modulation: global and local branches

model = dict(backbone=dict(type='ResNetFDConv', conv_cfg=fdconv))
