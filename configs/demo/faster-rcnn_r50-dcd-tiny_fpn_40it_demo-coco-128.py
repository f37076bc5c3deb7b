# Tiny Faster R-CNN R50 with DCD: the demo Faster R-CNN (faster-rcnn_r50-fdconv-tiny_..., 1/4
# width, no pretrained weights, 40 CPU iterations on 128-pixel demo COCO images) with the backbone
# of ../dynamic_convs/faster-rcnn_r50-dcd_fpn_1x_coco.py (DCD in every bottleneck conv; at this
# width the narrowest take 16 channels, DCD's minimum). For tests and the demo.
_base_ = ['./faster-rcnn_r50-fdconv-tiny_fpn_40it_demo-coco-128.py']

model = dict(
    backbone=dict(
        type='ResNetDynamicConv',
        conv_cfg=dict(_delete_=True, type='DCDConv2d'),
        need_grad_list=[]))
