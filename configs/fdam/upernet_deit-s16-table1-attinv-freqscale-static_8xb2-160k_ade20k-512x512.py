# FDAM supplementary Table 1, row 3: DeiT-S + AttInv + FreqScale (static) (paper: +1.2M params
# over the baseline, 43.8 mIoU). One learned real frequency weight per channel (14x8 spectrum,
# resized to the feature's), no routing, after the attention and MLP branches of every block.
_base_ = ['./upernet_deit-s16-table1-attinv_8xb2-160k_ade20k-512x512.py']

model = dict(backbone=dict(freq_scale=dict(mode='static', size=14)))
