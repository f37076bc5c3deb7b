# Tiny FCOS R50-FDConv (../fdconv/fcos_r50-caffe-fdconv_fpn_gn-head_1x_coco.py at 1/4 width,
# 32-channel FPN and head, no pretrained weights) on the demo COCO data
# (tools/make_demo_data.py): 128-pixel images, 40 iterations on CPU. For tests and the demo. The
# bottleneck convs wider than 16 channels (stages 2-4) are FDConvs; stage 1 falls back to plain
# convs.
_base_ = ['../fdconv/fcos_r50-caffe-fdconv_fpn_gn-head_1x_coco.py',
          './_base_/coco-128_40it_demo.py']

data_root = {{_base_.demo.data_root}}
image_scale = {{_base_.demo.image_scale}}
max_iters = {{_base_.demo.max_iters}}

model = dict(
    backbone=dict(base_channels=16, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=32),
    # 8 GroupNorm groups: with 32 of 32 channels the 1x1 P7 map of a 128-pixel image would give
    # a group a single value, which GroupNorm refuses
    bbox_head=dict(in_channels=32, feat_channels=32, stacked_convs=2,
                   norm_cfg=dict(type='GN', num_groups=8, requires_grad=True)),
    # score_thr 0 so that an undertrained model still yields a metric
    test_cfg=dict(nms_pre=300, score_thr=0.0, max_per_img=100))

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
