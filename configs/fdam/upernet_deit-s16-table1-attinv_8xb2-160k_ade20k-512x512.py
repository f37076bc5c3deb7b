# FDAM supplementary Table 1, row 2: DeiT-S + AttInv (paper: +0.1M params, 43.5 mIoU).
# Attention Inversion in all 12 blocks; no FreqScale. Same data, schedule and recipe as the
# baseline (./upernet_deit-s16_8xb2-160k_ade20k-512x512.py).
_base_ = ['./upernet_deit-s16_8xb2-160k_ade20k-512x512.py']

model = dict(backbone=dict(type='VisionTransformerFDAM', attn_inv=True))
