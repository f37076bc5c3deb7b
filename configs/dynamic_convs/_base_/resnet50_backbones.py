# The ResNet-50 backbones of the comparison rows that two detectors share (the Faster and Mask
# R-CNN configs of this folder take them with {{_base_.<name>}}), with their ImageNet weights at
# checkpoints/ in the torchvision key layout (README, "Pretrained weights").
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)
# as the ODConv authors' configs: not every attention head receives a gradient in every step
find_unused_parameters = True

# ODConv (4x): every bottleneck conv (conv1/conv2/conv3); stem and downsample convs plain
odconv_4x = dict(
    type='ResNetDynamicConv',
    conv_cfg=dict(type='ODConv2d', kernel_num=4, reduction=0.0625),
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/od_resnet50_4x.pth'))
# DY-Conv (K = 4): every conv but the stem (the bottleneck and the downsample convs)
dyconv = dict(type='DynamicConv2d', kernel_num=4, reduction=0.25)
dyconv_4x = dict(
    type='ResNetDynamicConv',
    conv_cfg=dyconv,
    downsample_conv_cfg=dyconv,
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/dy_resnet50_4x.pth'))
