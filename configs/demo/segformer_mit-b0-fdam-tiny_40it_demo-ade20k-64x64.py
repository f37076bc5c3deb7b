# Tiny SegFormer + FDAM on the demo ADE20K data (tools/make_demo_data.py): the MiT-B0 FDAM config
# with stage widths 16/32/80/128 and one block per stage, 64x64 crops, 40 iterations on CPU. For
# tests and the demo, not for accuracy.
_base_ = ['../fdam/segformer_mit-b0-fdam_8xb2-160k_ade20k-512x512.py']

data_root = 'data/demo/ade20k/ADEChallengeData2016'
crop_size = (64, 64)
max_iters = 40

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(embed_dims=16, num_layers=[1, 1, 1, 1], init_cfg=None),
    decode_head=dict(in_channels=[16, 32, 80, 128], channels=32))

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

optim_wrapper = dict(optimizer=dict(lr=2e-3))  # the recipe's paramwise_cfg is kept
param_scheduler = [dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=max_iters))
