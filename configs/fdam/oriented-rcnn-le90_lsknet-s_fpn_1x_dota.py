# Oriented R-CNN le90 + FPN with an LSKNet-S backbone on DOTA-v1.0, 1x schedule (FDAM's baseline:
# 77.49 mAP, single scale). The official LSKNet-S recipe (lsk_s_fpn_1x_dota_le90.py of the LSKNet
# release) item by item: drop path 0.1, MLP dropout 0.1, SyncBN; flips (horizontal / vertical /
# diagonal, 0.25 each) and random rotation (p 0.5, +-180 degrees, multiples of 90 for images with
# storage tanks or roundabouts); AdamW lr 1e-4 wd 0.05, grad clip 35, 500 warmup iterations at 1/3,
# steps at epochs 8 and 11; 8 GPUs x 1 image. Deliberate differences: single-scale patches
# (data/split_ss_dota: the paper's single-scale setting; the official file points at the
# multi-scale split), mmrotate 1.x's RandomRotate / RandomFlip for 0.x's PolyRandomRotate /
# RRandomFlip, and validation on trainval/ (the stock base; the paper's numbers are test-server).
_base_ = ['mmrotate::oriented_rcnn/oriented-rcnn-le90_r50_fpn_1x_dota.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

# The LSKNet-S ImageNet backbone of the LSKNet release (lsk_s_backbone.pth.tar), placed by the user.
pretrained = 'data/pretrained/lsk_s_backbone.pth.tar'

model = dict(
    backbone=dict(
        _delete_=True, type='LSKNet', embed_dims=[64, 128, 320, 512], depths=[2, 2, 4, 2],
        mlp_ratios=[8, 8, 4, 4], drop_rate=0.1, drop_path_rate=0.1, out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 320, 512]))

train_pipeline = [
    dict(type='mmdet.LoadImageFromFile'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(type='mmdet.Resize', scale=(1024, 1024), keep_ratio=True),
    dict(type='mmdet.RandomFlip', prob=0.75, direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='RandomRotate', prob=0.5, angle_range=180, rect_obj_labels=[9, 11]),
    dict(type='mmdet.PackDetInputs')]
train_dataloader = dict(batch_size=1, dataset=dict(pipeline=train_pipeline))

# the stock 1x schedule's warmup, steps and grad clipping (max norm 35) are the official ones
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05))
