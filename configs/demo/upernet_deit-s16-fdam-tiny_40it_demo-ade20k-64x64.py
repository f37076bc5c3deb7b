# Tiny DeiT-S + FDAM UPerNet on the demo ADE20K data (tools/make_demo_data.py): the FDAM config of
# FDAM's Table 1 (AttInv + group FreqScale) with 4 blocks of width 32, 64x64 crops, 40 iterations on
# CPU. For tests and the demo, not for accuracy.
_base_ = ['../fdam/upernet_deit-s16-table1-attinv-freqscale-group_8xb2-160k_ade20k-512x512.py',
          './_base_/ade20k-64x64_40it_demo.py']

data_root = {{_base_.demo.data_root}}
crop_size = {{_base_.demo.crop_size}}
max_iters = {{_base_.demo.max_iters}}

model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size, embed_dims=32, num_layers=4, num_heads=2,
                  out_indices=(0, 1, 2, 3), init_cfg=None),  # no DeiT-S weights at width 32
    decode_head=dict(in_channels=[32, 32, 32, 32], channels=32),
    auxiliary_head=dict(in_channels=32, channels=16))

train_pipeline = {{_base_.demo.train_pipeline}}
test_pipeline = {{_base_.demo.test_pipeline}}
train_dataloader = {{_base_.demo.train_dataloader}}
val_dataloader = {{_base_.demo.val_dataloader}}
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=2e-3))  # the recipe's paramwise_cfg is kept
param_scheduler = {{_base_.demo.param_scheduler}}
train_cfg = {{_base_.demo.train_cfg}}
default_hooks = {{_base_.demo.default_hooks}}
