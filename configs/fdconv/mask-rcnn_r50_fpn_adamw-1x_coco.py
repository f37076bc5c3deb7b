# Mask R-CNN R50 + FPN, COCO 2017, 1x, with the training recipe of the FDConv release: AdamW
# (lr 1e-4, weight decay 0.05, none on norm layers), multi-scale 480-800 training with the
# DETR-style crop augmentation, 16 images per iteration (8 GPUs x 2), fp16 with dynamic loss
# scale. Plain baseline of mask-rcnn_r50-fdconv_fpn_adamw-1x_coco.py (paper Table 2: 39.6 / 36.4).
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

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
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.))
auto_scale_lr = dict(enable=False, base_batch_size=16)
