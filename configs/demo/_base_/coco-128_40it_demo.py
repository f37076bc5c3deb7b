# The demo COCO data (tools/make_demo_data.py: 128-pixel images), boxes only (`detection`, for
# Faster R-CNN, FCOS and RTMDet; `mmyolo_detection`, for mmyolo's detectors) or boxes and masks
# (`instance`, for Mask R-CNN), the R-CNN proposal and sampling numbers for such small images,
# and a 40-iteration CPU schedule, for the COCO demo configs.
# mmengine refuses a key that two bases both define, so everything sits in one `demo` dict: a demo
# config lists this file next to the config it shrinks and takes each entry over with
# `key = {{_base_.demo.key}}`.
demo = dict(data_root='data/demo/coco/', image_scale=(128, 128), max_iters=40)


def _pipelines(load_annotations):
    train = [
        dict(type='LoadImageFromFile'),
        load_annotations,
        dict(type='Resize', scale=demo['image_scale'], keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs'),
    ]
    test = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=demo['image_scale'], keep_ratio=True),
        load_annotations,
        dict(type='PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
    ]
    loader = dict(num_workers=0, persistent_workers=False)
    return dict(
        train_pipeline=train, test_pipeline=test,
        train_dataloader=dict(batch_size=2, **loader,
                              dataset=dict(data_root=demo['data_root'], pipeline=train)),
        val_dataloader=dict(batch_size=1, **loader,
                            dataset=dict(data_root=demo['data_root'], pipeline=test)))


def _mmdet_datasets(loaders):
    # for mmyolo configs: the stock mmdet dataset, built in mmdet's scope so that its transforms
    # are mmdet's (in mmyolo's scope 'Resize' is mmcv's, which leaves the boxes unscaled);
    # _delete_ drops the mmyolo dataset's own keys (batch_shapes_cfg, ...)
    for split, key in (('train', 'train_dataloader'), ('val', 'val_dataloader')):
        loaders[key]['dataset'].update(
            _delete_=True, _scope_='mmdet', type='CocoDataset',
            ann_file=f'annotations/instances_{split}2017.json',
            data_prefix=dict(img=f'{split}2017/'))
    loaders['val_dataloader']['dataset']['test_mode'] = True
    # mmyolo's batch collate, without the _scope_ key inheriting adds (it would be an argument)
    loaders['train_dataloader']['collate_fn'] = dict(_delete_=True, type='yolov5_collate')
    return loaders


demo.update(
    detection=_pipelines(dict(type='LoadAnnotations', with_bbox=True)),
    mmyolo_detection=dict(
        _mmdet_datasets(_pipelines(dict(type='LoadAnnotations', with_bbox=True))),
        # a copy of its own: merging val_dataloader consumes the _delete_ that this one needs
        test_dataloader=_mmdet_datasets(
            _pipelines(dict(type='LoadAnnotations', with_bbox=True)))['val_dataloader']),
    instance=_pipelines(dict(type='LoadAnnotations', with_bbox=True, with_mask=True)),
    val_evaluator=dict(ann_file=demo['data_root'] + 'annotations/instances_val2017.json'),
    # fewer proposals than the 1333px recipe: 128-pixel images hold a handful of objects
    model_train_cfg=dict(rpn_proposal=dict(nms_pre=300, max_per_img=200),
                         rcnn=dict(sampler=dict(num=128))),
    # score_thr 0 so that an undertrained model still yields a metric
    model_test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=200), rcnn=dict(score_thr=0.0)),
    param_scheduler=[dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5)],
    train_cfg=dict(_delete_=True, type='IterBasedTrainLoop', max_iters=demo['max_iters'],
                   val_interval=demo['max_iters']),
    default_hooks=dict(logger=dict(interval=10),
                       checkpoint=dict(by_epoch=False, interval=demo['max_iters'])),
    log_processor=dict(by_epoch=False))
