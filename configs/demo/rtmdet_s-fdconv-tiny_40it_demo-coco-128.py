# Tiny RTMDet-s FDConv (../fdconv/rtmdet_s-fdconv_8xb32-300e_coco.py at half width, 32-channel
# neck and head, no pretrained weights) on the demo COCO data (tools/make_demo_data.py):
# 128-pixel images, 40 iterations on CPU. For tests and the demo. The CSP convs wider than 16
# channels (stages 2-4, and stage 1's outer convs) are FDConvs.
_base_ = ['../fdconv/rtmdet_s-fdconv_8xb32-300e_coco.py', './_base_/coco-128_40it_demo.py']

data_root = {{_base_.demo.data_root}}
image_scale = {{_base_.demo.image_scale}}
max_iters = {{_base_.demo.max_iters}}

model = dict(
    backbone=dict(backbone=dict(widen_factor=0.25, init_cfg=None)),
    neck=dict(in_channels=[64, 128, 256], out_channels=32),
    bbox_head=dict(in_channels=32, feat_channels=32),
    test_cfg=dict(nms_pre=300, max_per_img=100))

train_pipeline = {{_base_.demo.detection.train_pipeline}}
test_pipeline = {{_base_.demo.detection.test_pipeline}}
train_dataloader = {{_base_.demo.detection.train_dataloader}}
val_dataloader = {{_base_.demo.detection.val_dataloader}}
test_dataloader = val_dataloader
val_evaluator = {{_base_.demo.val_evaluator}}
test_evaluator = val_evaluator

param_scheduler = {{_base_.demo.param_scheduler}}
train_cfg = {{_base_.demo.train_cfg}}
default_hooks = {{_base_.demo.default_hooks}}
log_processor = {{_base_.demo.log_processor}}
