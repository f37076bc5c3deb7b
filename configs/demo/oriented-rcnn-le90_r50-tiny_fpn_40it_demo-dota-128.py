# Tiny Oriented R-CNN le90 (ResNet-50 layout at 1/8 width, 32-channel FPN) on the demo DOTA-v1.0
# data (tools/make_demo_data.py): 128-pixel patches, 40 iterations on CPU. For tests and the demo.
_base_ = ['mmrotate::oriented_rcnn/oriented-rcnn-le90_r50_fpn_1x_dota.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

data_root = 'data/demo/dota/'
image_scale = (128, 128)
max_iters = 40

model = dict(
    backbone=dict(stem_channels=16, base_channels=8, frozen_stages=-1, init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=32),
        bbox_head=dict(in_channels=32, fc_out_channels=64)),
    # Fewer proposals than the 1333px recipe: 128-pixel images hold a handful of objects.
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=300, max_per_img=200),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=200),
        rcnn=dict(max_per_img=100)))

train_pipeline = [
    dict(type='mmdet.LoadImageFromFile'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(type='mmdet.Resize', scale=image_scale, keep_ratio=True),
    dict(type='mmdet.RandomFlip', prob=0.75, direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='mmdet.PackDetInputs'),
]
val_pipeline = [
    dict(type='mmdet.LoadImageFromFile'),
    dict(type='mmdet.Resize', scale=image_scale, keep_ratio=True),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(type='mmdet.PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, img_shape=image_scale, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='val/annfiles/', data_prefix=dict(img_path='val/images/'),
                 img_shape=image_scale, pipeline=val_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, _delete_=True))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5)]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(by_epoch=False, interval=max_iters))
log_processor = dict(by_epoch=False)
