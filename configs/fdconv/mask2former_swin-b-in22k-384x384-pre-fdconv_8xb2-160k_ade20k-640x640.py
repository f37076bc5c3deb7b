# Mask2Former, Swin-B (ImageNet-22k, 384x384) with FDLinear (FDConv on tokens) as the two MLP
# linears of every block, ADE20K 640x640, 160k iterations, 8x2 images: FDConv paper Table 5,
# 53.9 -> 54.9 mIoU. Plain baseline, same recipe:
# mmseg::mask2former/mask2former_swin-b-in22k-384x384-pre_8xb2-160k_ade20k-640x640.py (53.9).
_base_ = ['mmseg::mask2former/mask2former_swin-b-in22k-384x384-pre_8xb2-160k_ade20k-640x640.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

# mmseg's Swin-B ImageNet-22k weights (already in mmseg's layout) converted to the FDConv layout:
#   python tools/convert_to_fdconv.py --model-type swin \
#       swin_base_patch4_window12_384_22k_20220317-e5c09f74.pth \
#       checkpoints/swin_base_patch4_window12_384_22k_fdconv.pth
pretrained = 'checkpoints/swin_base_patch4_window12_384_22k_fdconv.pth'

model = dict(
    backbone=dict(
        type='SwinTransformerFDConv',  # mmseg's SwinTransformer with FDLinear MLPs
        fdlinear_cfg=dict(kernel_num=64),  # as mask-rcnn_swin-t-p4-w7-fdconv_fpn_1x_coco.py
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
