# FDAM supplementary Table 2, n=2: DeiT-S + FDAM with n=2 frequency weights (paper: 44.0 mIoU;
# n=4 is FDAM's default). Everything else as Table 1's FDAM row (g=16).
_base_ = ['./upernet_deit-s16-table1-attinv-freqscale-group_8xb2-160k_ade20k-512x512.py']

model = dict(backbone=dict(freq_scale=dict(num_filters=2)))
