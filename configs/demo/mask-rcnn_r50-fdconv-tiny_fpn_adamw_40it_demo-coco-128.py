# Tiny Mask R-CNN R50-FDConv with the release recipe
# (../fdconv/mask-rcnn_r50-fdconv_fpn_adamw-1x_coco.py: AdamW, multi-scale + DETR-style crop, here
# scaled to 128-pixel images; fp16 becomes fp32 on CPU) at 1/4 width, 32-channel FPN, no
# pretrained weights, on the demo COCO data: 40 iterations on CPU. For tests and the demo.
_base_ = ['../fdconv/mask-rcnn_r50-fdconv_fpn_adamw-1x_coco.py', './_base_/coco-128_40it_demo.py']

data_root = {{_base_.demo.data_root}}
max_iters = {{_base_.demo.max_iters}}

model = dict(
    backbone=dict(base_channels=16, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=32),
        bbox_head=dict(in_channels=32, fc_out_channels=64),
        mask_roi_extractor=dict(out_channels=32),
        mask_head=dict(in_channels=32, conv_out_channels=32)),
    train_cfg={{_base_.demo.model_train_cfg}},
    test_cfg={{_base_.demo.model_test_cfg}})

scales = [(96, 213), (112, 213), (128, 213)]  # the 480-800 / 1333 recipe at 128-pixel scale
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomChoice', transforms=[
        [dict(type='RandomChoiceResize', scales=scales, keep_ratio=True)],
        [dict(type='RandomChoiceResize', scales=[(64, 213), (80, 213), (96, 213)], keep_ratio=True),
         dict(type='RandomCrop', crop_type='absolute_range', crop_size=(62, 96),
              allow_negative_crop=True),
         dict(type='RandomChoiceResize', scales=scales, keep_ratio=True)]]),
    dict(type='PackDetInputs'),
]
test_pipeline = {{_base_.demo.instance.test_pipeline}}
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = {{_base_.demo.instance.val_dataloader}}
test_dataloader = val_dataloader
val_evaluator = {{_base_.demo.val_evaluator}}
test_evaluator = val_evaluator

param_scheduler = {{_base_.demo.param_scheduler}}
train_cfg = {{_base_.demo.train_cfg}}
default_hooks = {{_base_.demo.default_hooks}}
log_processor = {{_base_.demo.log_processor}}
