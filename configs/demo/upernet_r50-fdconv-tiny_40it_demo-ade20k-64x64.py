# Tiny UPerNet R50-FDConv on the demo ADE20K data (tools/make_demo_data.py): the demo UPerNet with
# the backbone of configs/fdconv/upernet_r50-fdconv_4xb4-160k_ade20k-512x512.py (ResNet-50-V1c,
# FDConv in the bottleneck convs; at this 1/8 width those wider than 16 channels, stages 3-4, are
# dynamic), no pretrained weights, 64x64 crops, 40 iterations on CPU. For tests and the demo.
_base_ = ['./upernet_r50-tiny_40it_demo-ade20k-64x64.py']

model = dict(
    backbone=dict(
        type='ResNetV1cFDConv',
        conv_cfg=dict(type='FDConv', kernel_num=4, use_fdconv_if_c_gt=16, use_fdconv_if_k_in=[1, 3],
                      use_fbm_if_k_in=[3], fbm_cfg=dict(k_list=[2, 4, 8]), use_ksm_local=True),
        need_grad_list=['KSM', 'FBM']))
