# Tiny LSKNet (16-128 channels, one block per stage) with FDAM's FreqScale in every block, Oriented
# R-CNN le90 on the demo DOTA-v1.0 data (128-pixel patches, 15 classes), 40 iterations on CPU. For
# tests and the demo; the recipe of the real run is configs/fdam/oriented-rcnn-le90_lsknet-s-fdam_*.
_base_ = ['./oriented-rcnn-le90_r50-tiny_fpn_40it_demo-dota-128.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='LSKNet',
        embed_dims=[16, 32, 64, 128],
        depths=[1, 1, 1, 1],
        mlp_ratios=[4, 4, 4, 4],
        drop_path_rate=0.1,
        norm_cfg=dict(type='BN', requires_grad=True),
        freq_scale=dict(mode='group', num_filters=4, groups=16, size=14, reweight_ratio=0.0625),
        init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128]))
