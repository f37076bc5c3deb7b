# FDAM supplementary Table 3, g=4: DeiT-S + FDAM with g=4 channel groups (paper: 44.0 mIoU;
# g=16 is FDAM's default). Everything else as Table 1's FDAM row (n=4).
_base_ = ['./upernet_deit-s16-table1-attinv-freqscale-group_8xb2-160k_ade20k-512x512.py']

model = dict(backbone=dict(freq_scale=dict(groups=4)))
