# FDAM supplementary Table 1, row 4: DeiT-S + AttInv + FreqScale (dynamic) (paper: +4.4M params
# over the baseline, 44.1 mIoU). n=4 full-channel frequency weights mixed per sample.
_base_ = ['./upernet_deit-s16-table1-attinv_8xb2-160k_ade20k-512x512.py']

model = dict(
    backbone=dict(
        freq_scale=dict(mode='dynamic', num_filters=4, size=14, reweight_ratio=0.0625)))
