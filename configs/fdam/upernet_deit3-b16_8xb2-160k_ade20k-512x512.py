# Baseline of the FDAM DeiT-III-B row: DeiT-III-B, UPerNet on ADE20K (paper: 51.8 mIoU, the figure
# of the DeiT-III paper). The FDAM config's model with AttInv and FreqScale off (plain attention,
# no freq_scale_*; the same backbone layout, neck, heads and pre-trained 21k weights) and the
# release's own baseline recipe (its upernet_deit3-b16_512x512_160k_ade20k.py): everything as the
# FDAM config except AdamW weight decay 0.05 (FDAM: 0.01).
_base_ = ['./upernet_deit3-b16-fdam_8xb2-160k_ade20k-512x512.py']

model = dict(backbone=dict(attn_inv=False, freq_scale=None))
optim_wrapper = dict(optimizer=dict(weight_decay=0.05))
