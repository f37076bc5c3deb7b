# FDAM supplementary Table 1, row 1 (baseline): UPerNet DeiT-S on ADE20K, 512x512, 160k iterations,
# 16 images per iteration, AdamW (paper: 52.1M params, 42.9 mIoU, mmseg's DeiT-S result). The
# stock mmseg model (VisionTransformer, class token, no neck: 52.1M) and recipe; only the schedule
# is fixed: mmseg's "160k" DeiT-S config inherits the 80k ViT schedule. Every Table 1-3 row inherits
# this file and adds FDAM to the backbone only. The supplementary is the only source (the release
# has no DeiT-S + FDAM config); deliberate choices where it is silent (docs/fdam.md, "DeiT-S"):
# mmseg's recipe unchanged (no layer decay, FDAM parameters at the base lr: the DeiT-III release's
# x2 for freq_scale is not applied), mmseg's poly-after-warmup rule and whole-image test without
# ResizeToMultiple, as for the 42.9 baseline.
_base_ = ['mmseg::vit/vit_deit-s16_upernet_8xb2-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

max_iters = 160000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=16000)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=16000))
# mmseg's model-level `pretrained` string, given as the backbone's init_cfg it becomes (the same
# load, without mmseg's deprecation warning)
deit_s = 'pretrain/deit_small_patch16_224-cd65a155.pth'
model = dict(pretrained=None,
             backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=deit_s)))
