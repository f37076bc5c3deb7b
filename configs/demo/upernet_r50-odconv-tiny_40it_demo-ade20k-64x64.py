# Tiny UPerNet R50 with ODConv: the demo UPerNet (upernet_r50-tiny_..., 1/8 width, no pretrained
# weights, 64x64 crops of the demo ADE20K data, 40 CPU iterations) with the backbone of
# ../dynamic_convs/upernet_r50-odconv-4x_4xb4-160k_ade20k-512x512.py (ODConv 4x in every
# bottleneck conv). For tests and the demo.
_base_ = ['./upernet_r50-tiny_40it_demo-ade20k-64x64.py']

model = dict(
    backbone=dict(type='ResNetV1cDynamicConv',
                  conv_cfg=dict(type='ODConv2d', kernel_num=4, reduction=0.0625)))
find_unused_parameters = True
