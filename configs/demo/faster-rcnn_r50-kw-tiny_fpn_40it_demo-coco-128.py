# Tiny Faster R-CNN R50 with KernelWarehouse (1x, one warehouse per stage shared by its block
# convs, as ../dynamic_convs/mask-rcnn_r50-kw-1x_fpn_adamw-1x_coco.py builds it): the demo Faster
# R-CNN (faster-rcnn_r50-fdconv-tiny_..., 1/4 width, no pretrained weights, 40 CPU iterations on
# 128-pixel demo COCO images), with the authors' ImageNet temperature schedule compressed into the
# 40 iterations (t from 1 to 0: TemperatureScheduleHook). For tests and the demo.
_base_ = ['./faster-rcnn_r50-fdconv-tiny_fpn_40it_demo-coco-128.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNetKW',
        depth=50,
        base_channels=16,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_eval=True,
        style='pytorch',
        cell_num_ratio=1))
custom_hooks = [dict(type='TemperatureScheduleHook', start=1.0, end=0.0, iters=40)]
