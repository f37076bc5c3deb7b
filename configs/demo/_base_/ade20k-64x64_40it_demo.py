# The demo ADE20K data (tools/make_demo_data.py: 128-pixel images) at 64x64 crops and a
# 40-iteration CPU schedule, for the ADE20K demo configs. mmengine refuses a key that two bases
# both define, so everything sits in one `demo` dict: a demo config lists this file next to the
# config it shrinks and takes each entry over with `key = {{_base_.demo.key}}`.
demo = dict(data_root='data/demo/ade20k/ADEChallengeData2016', crop_size=(64, 64), max_iters=40)
demo.update(
    train_pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', reduce_zero_label=True),
        dict(type='RandomResize', scale=(128, 128), ratio_range=(0.5, 1.5), keep_ratio=True),
        dict(type='RandomCrop', crop_size=demo['crop_size'], cat_max_ratio=0.75),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackSegInputs'),
    ],
    test_pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(128, 128), keep_ratio=True),
        dict(type='LoadAnnotations', reduce_zero_label=True),
        dict(type='PackSegInputs'),
    ],
    param_scheduler=[dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=0,
                          end=demo['max_iters'], by_epoch=False)],
    train_cfg=dict(type='IterBasedTrainLoop', max_iters=demo['max_iters'],
                   val_interval=demo['max_iters']),
    default_hooks=dict(logger=dict(interval=10),
                       checkpoint=dict(by_epoch=False, interval=demo['max_iters'])))
demo.update(
    train_dataloader=dict(batch_size=4, num_workers=0, persistent_workers=False,
                          dataset=dict(data_root=demo['data_root'],
                                       pipeline=demo['train_pipeline'])),
    val_dataloader=dict(batch_size=1, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=demo['data_root'],
                                     pipeline=demo['test_pipeline'])))
