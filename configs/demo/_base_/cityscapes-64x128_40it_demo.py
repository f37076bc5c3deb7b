# The demo Cityscapes data (tools/make_demo_data.py: 64x128 frames, the real 1024x2048 at 1/16)
# and a 40-iteration CPU schedule, for the Cityscapes demo configs. mmengine refuses a key that two
# bases both define, so everything sits in one `demo` dict: a demo config lists this file next to
# the config it shrinks and takes each entry over with `key = {{_base_.demo.key}}`.
demo = dict(data_root='data/demo/cityscapes/', crop_size=(64, 128), max_iters=40)
demo.update(
    # mmseg's Mask2Former Cityscapes pipeline at 1/16 scale (shortest edge 512-2048 -> 32-128)
    train_pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='RandomChoiceResize', scales=[int(64 * x * 0.1) for x in range(5, 21)],
             resize_type='ResizeShortestEdge', max_size=256),
        dict(type='RandomCrop', crop_size=demo['crop_size'], cat_max_ratio=0.75),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'),
        dict(type='PackSegInputs'),
    ],
    test_pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(128, 64), keep_ratio=True),
        dict(type='LoadAnnotations'),
        dict(type='PackSegInputs'),
    ],
    # mmseg's Mask2Former Cityscapes schedule, over the demo's iterations
    param_scheduler=[dict(type='PolyLR', eta_min=0, power=0.9, begin=0, end=demo['max_iters'],
                          by_epoch=False)],
    train_cfg=dict(type='IterBasedTrainLoop', max_iters=demo['max_iters'],
                   val_interval=demo['max_iters']),
    default_hooks=dict(logger=dict(interval=10),
                       checkpoint=dict(by_epoch=False, interval=demo['max_iters'])))
demo.update(
    train_dataloader=dict(batch_size=2, num_workers=0, persistent_workers=False,
                          dataset=dict(data_root=demo['data_root'],
                                       pipeline=demo['train_pipeline'])),
    val_dataloader=dict(batch_size=1, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=demo['data_root'],
                                     pipeline=demo['test_pipeline'])))
