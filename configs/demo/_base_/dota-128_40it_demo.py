# The demo DOTA-v1.0 data (tools/make_demo_data.py: 128-pixel patches, trainval/ for training,
# val/ for validation and testing) and a 40-iteration CPU schedule, for the DOTA demo configs.
# mmengine refuses a key that two bases both define, so everything sits in one `demo` dict: a demo
# config lists this file next to the config it shrinks and takes each entry over with
# `key = {{_base_.demo.key}}`.
demo = dict(data_root='data/demo/dota/', image_scale=(128, 128), max_iters=40)
demo.update(
    train_pipeline=[
        dict(type='mmdet.LoadImageFromFile'),
        dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
        dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
        dict(type='mmdet.Resize', scale=demo['image_scale'], keep_ratio=True),
        dict(type='mmdet.RandomFlip', prob=0.75,
             direction=['horizontal', 'vertical', 'diagonal']),
        dict(type='mmdet.PackDetInputs'),
    ],
    val_pipeline=[
        dict(type='mmdet.LoadImageFromFile'),
        dict(type='mmdet.Resize', scale=demo['image_scale'], keep_ratio=True),
        dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
        dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
        dict(type='mmdet.PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
    ],
    param_scheduler=[dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5)],
    train_cfg=dict(_delete_=True, type='IterBasedTrainLoop', max_iters=demo['max_iters'],
                   val_interval=demo['max_iters']),
    default_hooks=dict(logger=dict(interval=10),
                       checkpoint=dict(by_epoch=False, interval=demo['max_iters'])),
    log_processor=dict(by_epoch=False))
demo.update(
    train_dataloader=dict(batch_size=2, num_workers=0, persistent_workers=False,
                          dataset=dict(data_root=demo['data_root'], img_shape=demo['image_scale'],
                                       pipeline=demo['train_pipeline'])),
    val_dataloader=dict(batch_size=1, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=demo['data_root'], ann_file='val/annfiles/',
                                     data_prefix=dict(img_path='val/images/'),
                                     img_shape=demo['image_scale'],
                                     pipeline=demo['val_pipeline'])))
