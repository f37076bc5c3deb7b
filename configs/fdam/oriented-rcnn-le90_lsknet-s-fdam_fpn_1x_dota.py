# Oriented R-CNN le90 + FPN, LSKNet-S with FDAM on DOTA-v1.0, 1x schedule, single scale (FDAM:
# 77.49 -> 78.61 mAP). The baseline's official LSKNet-S recipe, unchanged; the only change is
# FDAM's group FreqScale (n=4, g=16) after the attention and MLP branches of every LSKNet block.
# AttInv is bypassed (LSKNet has no softmax attention; FDAM supplementary, "Implementation
# Details"). The authors released no LSKNet + FDAM code, so where the DeiT-III release is
# specific we decided (docs/fdam.md, "LSKNet"): FreqScale parameters train at the base learning
# rate (the DeiT-III recipe doubles it) and start from their own init (near-identity residuals).
_base_ = ['./oriented-rcnn-le90_lsknet-s_fpn_1x_dota.py']

model = dict(
    backbone=dict(
        freq_scale=dict(mode='group', num_filters=4, groups=16, size=14, reweight_ratio=0.0625)))
