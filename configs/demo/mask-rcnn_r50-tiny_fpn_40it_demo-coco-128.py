# Tiny Mask R-CNN (ResNet-50 layout at 1/8 width, 32-channel FPN) on the demo COCO data
# (tools/make_demo_data.py): 128-pixel images, 40 iterations on CPU. For tests and the demo.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', './_base_/coco-128_40it_demo.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

data_root = {{_base_.demo.data_root}}
image_scale = {{_base_.demo.image_scale}}
max_iters = {{_base_.demo.max_iters}}

model = dict(
    backbone=dict(stem_channels=16, base_channels=8, frozen_stages=-1, init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=32),
        bbox_head=dict(in_channels=32, fc_out_channels=64),
        mask_roi_extractor=dict(out_channels=32),
        mask_head=dict(in_channels=32, conv_out_channels=32)),
    train_cfg={{_base_.demo.model_train_cfg}},
    test_cfg={{_base_.demo.model_test_cfg}})

train_pipeline = {{_base_.demo.instance.train_pipeline}}
test_pipeline = {{_base_.demo.instance.test_pipeline}}
train_dataloader = {{_base_.demo.instance.train_dataloader}}
val_dataloader = {{_base_.demo.instance.val_dataloader}}
test_dataloader = val_dataloader
val_evaluator = {{_base_.demo.val_evaluator}}
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, _delete_=True))
param_scheduler = {{_base_.demo.param_scheduler}}
train_cfg = {{_base_.demo.train_cfg}}
default_hooks = {{_base_.demo.default_hooks}}
log_processor = {{_base_.demo.log_processor}}
