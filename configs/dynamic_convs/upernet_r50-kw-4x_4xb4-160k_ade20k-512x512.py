# UPerNet, ResNet-50-V1c with KernelWarehouse (4x: cell_num_ratio=4, warehouses shared per stage
# as in the authors' KW_ResNet; deep stem plain), ADE20K 512x512, 160k iterations, 4x4 images:
# FDConv (CVPR 2025) Table 2, 141M params in all; ours 142.97M (66.52M + 76.46M, the KW 4x delta
# of Table 1; README). The stock mmseg recipe; temperature 0. Pretrained: an ImageNet KW (4x)
# ResNet-50-V1c in mmseg's key layout at the path below (the authors released a 7x7-stem one).
_base_ = ['mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

pretrained = 'checkpoints/kw4x_resnet50_v1c.pth'
model = dict(
    pretrained=None,
    backbone=dict(
        type='ResNetV1cKW',
        cell_num_ratio=4,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
find_unused_parameters = True
