# YOLOv8-s with FDConv in the CSPDarknet backbone, COCO 2017, 500 epochs: the stock recipe of
# mmyolo::yolov8/yolov8_s_syncbn_fast_8xb16-500e_coco.py (the baseline) unchanged but for the
# backbone. Needs mmyolo (pip install -e ".[yolo]"; tools/setup_env.sh installs it).
#
# mmyolo's YOLOv8CSPDarknet has no conv_cfg argument; FDConvBackbone wraps it and makes dynamic,
# in every stage, the convs of the CSP layer (the 1x1 main / final convs and both 3x3 convs of
# each Darknet bottleneck): the convs that a ResNet bottleneck's conv1/conv2/conv3 correspond to.
# The stem, the stride-2 downsample convs and SPPF stay plain. The layer options are the FDConv
# release's detection setting (kernel_num=64, FBM on 3x3 convs, local KSM). Not in the FDConv
# paper: no reference numbers exist. Like the baseline, trained from scratch.
_base_ = ['mmyolo::yolov8/yolov8_s_syncbn_fast_8xb16-500e_coco.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

fdconv = dict(
    kernel_num=64,
    use_fdconv_if_c_gt=16,
    use_fdconv_if_k_in=[1, 3],
    use_fbm_if_k_in=[3],
    fbm_cfg=dict(k_list=[2, 4, 8]),
    use_ksm_local=True)

model = dict(
    backbone=dict(
        _delete_=True,
        type='FDConvBackbone',
        backbone={{_base_.model.backbone}},
        layers=dict(names=[
            r'stage\d\.1\.(main_conv|final_conv)\.conv',
            r'stage\d\.1\.blocks\.\d+\.conv[12]\.conv',
        ]),
        fdconv_cfg=fdconv))
