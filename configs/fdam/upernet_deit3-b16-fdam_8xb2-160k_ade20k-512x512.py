# DeiT-III-B + FDAM, UPerNet on ADE20K, 512x512, 160k iterations, 8x2 images (paper: 51.8 -> 52.6
# mIoU). The release's backbone + neck (DeiT3FDAM: no class token, AttInv with qkv bias, layer
# scale 1e-4, group FreqScale n=4 g=16, outputs of blocks 2/5/8/11 through fpn1..fpn4); its ADE20K
# checkpoint loads by name. Recipe (release): AdamW lr 6e-5, wd 0.01, layer-wise lr decay 0.95
# over 12 layers, freq_scale params lr x2, no weight decay for pos_embed / norms, 1500 linear
# warmup iterations then poly, drop path 0.15. Head widths follow mmseg's BEiT UPerNet (768).
_base_ = ['mmseg::vit/vit_vit-b16_mln_upernet_8xb2-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True, type='DeiT3FDAM', patch_size=16, embed_dims=768, depth=12, num_heads=12,
        mlp_ratio=4, qkv_bias=True, drop_path_rate=0.15, layer_scale_init=1e-4, attn_inv=True,
        freq_scale=dict(mode='group', num_filters=4, groups=16, size=14, reweight_ratio=0.0625),
        out_indices=(2, 5, 8, 11), with_fpn=True, fpn_norm_cfg=norm_cfg,
        # DeiT-III-B ImageNet weights (facebookresearch/deit, 224 px; which pre-training the paper
        # used is not stated). FDAM parameters start from their own init.
        init_cfg=dict(type='Pretrained', checkpoint='pretrain/deit_3_base_224_1k.pth')),
    neck=None,
    decode_head=dict(in_channels=[768, 768, 768, 768], channels=768),
    auxiliary_head=dict(in_channels=768, in_index=2))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    constructor='ViTLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(
        num_layers=12, layer_decay_rate=0.95,
        custom_keys={'freq_scale': dict(lr_mult=2.), 'pos_embed': dict(decay_mult=0.),
                     'norm': dict(decay_mult=0.)}))
