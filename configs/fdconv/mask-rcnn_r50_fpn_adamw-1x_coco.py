# Mask R-CNN R50 + FPN, COCO 2017, 1x, with the training recipe of the FDConv release's Mask R-CNN
# config (compared item by item in the header of mask-rcnn_r50-fdconv_fpn_adamw-1x_coco.py): AdamW
# (lr 1e-4, weight decay 0.05, none on parameters whose name contains 'norm'), multi-scale 480-800
# training with the DETR-style crop, training images padded to a multiple of 64 (test: 32), 4
# images per GPU, fp16 with dynamic loss scale, lr x0.1 after epochs 10 and 11. Plain baseline of
# mask-rcnn_r50-fdconv_fpn_adamw-1x_coco.py (paper Table 2: 39.6 / 36.4).
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

model = dict(data_preprocessor=dict(type='TrainPadDetDataPreprocessor', train_pad_size_divisor=64))

scales = [(short, 1333) for short in range(480, 801, 32)]  # 480, 512, ..., 800
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomChoice', transforms=[
        [dict(type='RandomChoiceResize', scales=scales, keep_ratio=True)],
        [dict(type='RandomChoiceResize', scales=[(400, 1333), (500, 1333), (600, 1333)],
              keep_ratio=True),
         dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
              allow_negative_crop=True),
         dict(type='RandomChoiceResize', scales=scales, keep_ratio=True)]]),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=8, dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[10, 11], gamma=0.1),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
