# FDAM supplementary Table 1, row 5 = FDAM (default): DeiT-S + AttInv + FreqScale (dynamic + group)
# (paper: +0.5M params over the baseline, 44.3 mIoU). n=4 frequency weights of C/g channels,
# g=16 groups each with its own per-sample routing. Also Table 2 n=4 and Table 3 g=16.
_base_ = ['./upernet_deit-s16-table1-attinv_8xb2-160k_ade20k-512x512.py']

model = dict(
    backbone=dict(
        freq_scale=dict(mode='group', num_filters=4, groups=16, size=14, reweight_ratio=0.0625)))
