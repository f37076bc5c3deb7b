# Tiny Faster R-CNN R50 with CondConv: the demo Faster R-CNN (faster-rcnn_r50-fdconv-tiny_..., 1/4
# width, 32-channel FPN, no pretrained weights, 128-pixel demo COCO images, 40 CPU iterations) with
# the backbone of ../dynamic_convs/faster-rcnn_r50-condconv-8x_fpn_1x_coco.py (8 experts in
# layer4's block convs). For tests and the demo.
_base_ = ['./faster-rcnn_r50-fdconv-tiny_fpn_40it_demo-coco-128.py']

model = dict(
    backbone=dict(
        type='ResNetDynamicConv',
        conv_cfg=dict(_delete_=True, type='CondConv2d', num_experts=8),
        dynamic_stages=(3, ),
        need_grad_list=[]))
