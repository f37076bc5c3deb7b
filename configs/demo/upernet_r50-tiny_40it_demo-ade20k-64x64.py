# Tiny UPerNet (ResNet-50 layout at 1/8 width) on the demo ADE20K data (tools/make_demo_data.py):
# 64x64 crops, 40 iterations on CPU. For tests and the demo, not for accuracy.
_base_ = ['mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py',
          './_base_/ade20k-64x64_40it_demo.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)

data_root = {{_base_.demo.data_root}}
crop_size = {{_base_.demo.crop_size}}
max_iters = {{_base_.demo.max_iters}}

model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(stem_channels=16, base_channels=8),
    decode_head=dict(in_channels=[32, 64, 128, 256], channels=32),
    auxiliary_head=dict(in_channels=128, channels=16))

train_pipeline = {{_base_.demo.train_pipeline}}
test_pipeline = {{_base_.demo.test_pipeline}}
train_dataloader = {{_base_.demo.train_dataloader}}
val_dataloader = {{_base_.demo.val_dataloader}}
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.01, _delete_=True))
param_scheduler = {{_base_.demo.param_scheduler}}
train_cfg = {{_base_.demo.train_cfg}}
default_hooks = {{_base_.demo.default_hooks}}
