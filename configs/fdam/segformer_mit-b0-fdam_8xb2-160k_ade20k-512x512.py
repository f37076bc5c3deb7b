# SegFormer MiT-B0 + FDAM on ADE20K, 512x512, 160k iterations, 8x2 images (paper: 37.4 -> 39.8
# mIoU). AttInv in every block (spatial-reduction form: high-pass V_full - A.avgpool(V_full)) and
# group FreqScale (n=4, g=16) after the attention and Mix-FFN branches. The authors released no
# SegFormer + FDAM code; our decisions (docs/fdam.md, "SegFormer"): the baseline's stock mmseg
# data, schedule and recipe unchanged (decode head lr x10; FDAM parameters at the base lr, not the
# DeiT-III release's x2 for freq_scale; mmseg's test pipeline, although the FDAM release's ADE20K
# base resizes test images to multiples of 32, which it credits with a gain for SegFormer); the
# ImageNet MiT-B0 weights load by name, the FDAM parameters start from their own init.
_base_ = ['./segformer_mit-b0_8xb2-160k_ade20k-512x512.py']

model = dict(
    backbone=dict(
        type='MixVisionTransformerFDAM', attn_inv=True,
        freq_scale=dict(mode='group', num_filters=4, groups=16, size=14, reweight_ratio=0.0625)))
