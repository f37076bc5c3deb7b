# Tiny UPerNet R50 with DY-Conv: the demo UPerNet (upernet_r50-tiny_..., 1/8 width, no pretrained
# weights, 64x64 crops of the demo ADE20K data, 40 CPU iterations) with the ResNet-50-V1c layout of
# ../dynamic_convs/ (DY-Conv, K = 4, in every conv but the deep stem) and the paper's temperature
# annealing 30 -> 1 compressed into the 40 iterations. For tests and the demo.
_base_ = ['./upernet_r50-tiny_40it_demo-ade20k-64x64.py']

dyconv = dict(type='DynamicConv2d', kernel_num=4, reduction=0.25)
model = dict(
    backbone=dict(type='ResNetV1cDynamicConv', conv_cfg=dyconv, downsample_conv_cfg=dyconv))
custom_hooks = [dict(type='TemperatureScheduleHook', start=30.0, end=1.0, iters=40)]
