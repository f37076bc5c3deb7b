# DeiT-III-B + FDAM, UPerNet on ADE20K (paper: 52.6 mIoU; the released checkpoint loads as is).
# The FDAM release's upernet_deit3-b16_512x512_160k_ade20k_freq.py item by item (docs/fdam.md):
# DeiT3FDAM (pos_embed for 512 px, AttInv, group FreqScale, drop path 0.15 in every block),
# DeiT3FDAMNeck (SyncBN), UPerHead 512 ch, FCNHead on block 11; AdamW lr 6e-5 wd 0.01, layer decay
# 0.95, freq_scale lr x2, no decay for 1-D params, biases and pos_embed; linear warmup (1500 its)
# times poly from iteration 0 (mmcv's rule); 160k iterations of 16 images; whole-image test after
# ResizeToMultiple(32). Deliberate differences: 8 GPUs x 2 images (release 4 x 4: the same 16 per
# iteration, SyncBN over all); no save_best / max_keep_ckpts (bookkeeping).
_base_ = ['mmseg::vit/vit_vit-b16_mln_upernet_8xb2-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True, type='DeiT3FDAM', img_size=512, patch_size=16, embed_dims=768, depth=12,
        num_heads=12, mlp_ratio=4, qkv_bias=True, drop_path_rate=0.15, layer_scale_init=1e-4,
        attn_inv=True, out_indices=(2, 5, 8, 11),
        freq_scale=dict(mode='group', num_filters=4, groups=16, size=14, reweight_ratio=0.0625),
        # facebookresearch DeiT-III-B, ImageNet-21k pre-trained, 224 px (the release's)
        init_cfg=dict(type='Pretrained', checkpoint='pretrain/deit_3_base_224_21k.pth')),
    neck=dict(_delete_=True, type='DeiT3FDAMNeck', in_channels=768,
              norm_cfg=dict(type='SyncBN', requires_grad=True)))

optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', constructor='ViTLayerDecayOptimizerConstructor',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.95, flat_decay_mult=0.,
                       custom_keys={'freq_scale': dict(lr_mult=2.),
                                    'pos_embed': dict(decay_mult=0.), 'norm': dict(decay_mult=0.)}))
# mmengine's LinearLR / PolyLR reach their end value at step end - 1: end = N + 1 gives mmcv's t / N
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1501),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=0, end=160001)]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
