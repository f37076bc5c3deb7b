# Demo: the ResNet-50 + FDConv classifier of resnet50-fdconv_8xb32_in1k.py at width 16 (instead of
# 64), trained 40 iterations on the 4-class demo ImageNet (mmfreq.demo_data.imagenet, 64x64 images)
# with the stock ImageNet dataset, evaluated by top-1 accuracy. Data under data/demo/imagenet/
# (tools/train.py --data-root DIR moves it).
_base_ = ['./resnet50-fdconv_8xb32_in1k.py']

data_root = 'data/demo/imagenet/'
model = dict(backbone=dict(base_channels=16),
             head=dict(in_channels=16 * 32, topk=(1, )))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=40, val_interval=40)
val_cfg = dict()
test_cfg = dict()
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
optim_wrapper = dict(optimizer=dict(lr=0.01))
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=40), logger=dict(interval=10))
log_processor = dict(by_epoch=False)
