# Oriented R-CNN le90 + FPN with an LSKNet-S backbone on DOTA-v1.0, 1x schedule (12 epochs), single
# scale: 1024x1024 patches cut with gap 200 (README "DOTA-v1.0"). FDAM's baseline: 77.49 mAP.
_base_ = ['mmrotate::oriented_rcnn/oriented-rcnn-le90_r50_fpn_1x_dota.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

# The LSKNet-S ImageNet backbone of the LSKNet release (lsk_s_backbone.pth.tar), placed by the user.
pretrained = 'data/pretrained/lsk_s_backbone.pth.tar'

model = dict(
    backbone=dict(
        _delete_=True,
        type='LSKNet',
        embed_dims=[64, 128, 320, 512],
        depths=[2, 2, 4, 2],
        mlp_ratios=[8, 8, 4, 4],
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 320, 512]))

# data_root 'data/split_ss_dota/' (trainval/ and test/ patches), 2 images per GPU: the stock base.
# AdamW lr 1e-4, weight decay 0.05; the base's grad clipping (max norm 35) and 1x steps are kept.
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05))
