# Tiny YOLOv8-s FDConv (../fdconv/yolov8_s-fdconv_syncbn_fast_8xb16-500e_coco.py at half width)
# on the demo COCO data (tools/make_demo_data.py): 128-pixel images, 40 iterations on CPU. For
# tests and the demo; needs mmyolo. The CSP convs wider than 16 channels are FDConvs. The data
# come from the stock mmdet dataset and transforms (`mmyolo_detection` of the demo base) instead
# of the recipe's mosaic pipeline; mmyolo's collate and data preprocessor are kept.
_base_ = ['../fdconv/yolov8_s-fdconv_syncbn_fast_8xb16-500e_coco.py',
          './_base_/coco-128_40it_demo.py']

data_root = {{_base_.demo.data_root}}
image_scale = {{_base_.demo.image_scale}}
max_iters = {{_base_.demo.max_iters}}

widen_factor = 0.25
model = dict(
    backbone=dict(backbone=dict(widen_factor=widen_factor)),
    neck=dict(widen_factor=widen_factor),
    bbox_head=dict(head_module=dict(widen_factor=widen_factor)),
    test_cfg=dict(nms_pre=300, score_thr=0.0, max_per_img=100))

train_pipeline = {{_base_.demo.mmyolo_detection.train_pipeline}}
test_pipeline = {{_base_.demo.mmyolo_detection.test_pipeline}}
train_dataloader = {{_base_.demo.mmyolo_detection.train_dataloader}}
val_dataloader = {{_base_.demo.mmyolo_detection.val_dataloader}}
test_dataloader = {{_base_.demo.mmyolo_detection.test_dataloader}}
val_evaluator = {{_base_.demo.val_evaluator}}
test_evaluator = val_evaluator

param_scheduler = {{_base_.demo.param_scheduler}}
train_cfg = {{_base_.demo.train_cfg}}
default_hooks = {{_base_.demo.default_hooks}}
log_processor = {{_base_.demo.log_processor}}
