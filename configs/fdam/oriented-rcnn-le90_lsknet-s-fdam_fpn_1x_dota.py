# Oriented R-CNN le90 + FPN, LSKNet-S with FDAM on DOTA-v1.0, 1x schedule, single scale (1024x1024
# patches, gap 200). FDAM's Table: 77.49 -> 78.61 mAP. Same recipe as the baseline config; the only
# change is FDAM's group FreqScale after the attention and MLP branches of every LSKNet block
# (AttInv is bypassed: LSKNet has no softmax attention). The FreqScale modules are not in the
# ImageNet checkpoint and start from their own init (near-identity residuals).
_base_ = ['./oriented-rcnn-le90_lsknet-s_fpn_1x_dota.py']

model = dict(
    backbone=dict(
        freq_scale=dict(mode='group', num_filters=4, groups=16, size=14, reweight_ratio=0.0625)))
