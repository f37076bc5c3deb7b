# Tiny UPerNet R50-FDConv on the demo ADE20K data (tools/make_demo_data.py): the FDConv UPerNet
# config at 1/8 width (bottleneck convs wider than 16 channels, stages 3-4, are FDConv), no
# pretrained weights, 64x64 crops, 40 iterations on CPU. For tests and the demo, not for accuracy.
_base_ = ['../fdconv/upernet_r50-fdconv_4xb4-160k_ade20k-512x512.py']

data_root = 'data/demo/ade20k/ADEChallengeData2016'
crop_size = (64, 64)
max_iters = 40

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(stem_channels=16, base_channels=8, init_cfg=None),
    decode_head=dict(in_channels=[32, 64, 128, 256], channels=32),
    auxiliary_head=dict(in_channels=128, channels=16))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(128, 128), ratio_range=(0.5, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.01, _delete_=True))
param_scheduler = [dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=max_iters))
