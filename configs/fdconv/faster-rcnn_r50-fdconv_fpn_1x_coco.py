# Faster R-CNN, ResNet-50 with FDConv in every bottleneck (conv1/conv2/conv3; stem and downsample
# convs plain) + FPN, COCO 2017, 1x schedule: the FDConv release recipe (CVPR 2025, Table 1:
# +3.6M params, +1.8G FLOPs, AP 39.4; plain baseline 37.2 =
# mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py).
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

# torchvision's ImageNet ResNet-50 converted to the FDConv layout (README, "Pretrained weights"):
#   python tools/convert_to_fdconv.py --model-type resnet resnet50-0676ba61.pth \
#       checkpoints/resnet50_fdconv.pth
pretrained = 'checkpoints/resnet50_fdconv.pth'
fdconv = dict(
    type='FDConv',
    kernel_num=64,  # the detection setting of the release
    use_fdconv_if_c_gt=16,
    use_fdconv_if_k_in=[1, 3],
    use_fbm_if_k_in=[3],  # Frequency Band Modulation on the 3x3 convs
    fbm_cfg=dict(k_list=[2, 4, 8]),
    use_ksm_local=True)  # Kernel Spatial Modulation: global and local branches

model = dict(
    backbone=dict(
        type='ResNetFDConv',
        conv_cfg=fdconv,
        need_grad_list=['KSM', 'FBM'],  # stay trainable in the frozen stem stage
        with_cp=False,  # True: gradient checkpointing of the bottlenecks (less memory)
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
