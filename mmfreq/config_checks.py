"""Configurations that cannot train, refused when the run starts instead of failing in its first
iteration.

A BatchNorm after a global pooling branch (the 1x1 pyramid level of UPerNet's and PSPNet's
pooling module, DeepLabV3's image pooling) normalises one value per channel and image; with a
single image per BatchNorm it raises "Expected more than 1 value per channel when training".
"""
__all__ = ['pooled_batch_norm_problem']

_POOLING_HEADS = {'UPerHead': 'pool_scales', 'PSPHead': 'pool_scales', 'ASPPHead': None,
                  'DepthwiseSeparableASPPHead': None}


def _heads(model):
    decode = model.get('decode_head')
    for head in decode if isinstance(decode, list) else [decode]:
        if hasattr(head, 'get'):
            yield head


def pooled_batch_norm_problem(cfg, world_size: int = 1):
    """A message if ``cfg`` trains a globally pooled BatchNorm on one image, else ``None``.
    ``world_size``: the processes a SyncBN spans."""
    loader = cfg.get('train_dataloader')
    model = cfg.get('model')
    if not hasattr(loader, 'get') or not hasattr(model, 'get') or cfg.get('train_cfg') is None:
        return None
    batch = loader.get('batch_size', 1)
    for head in _heads(model):
        pooled = head.get('type') in _POOLING_HEADS
        scales = _POOLING_HEADS.get(head.get('type'))
        if scales and 1 not in tuple(head.get(scales, (1, 2, 3, 6))):
            pooled = False
        norm = (head.get('norm_cfg') or {}).get('type')
        if not pooled or norm not in ('BN', 'SyncBN', 'BN2d'):
            continue
        images = batch * (world_size if norm == 'SyncBN' else 1)
        if images < 2:
            return (f"{head['type']} pools to 1x1 before a {norm} (norm_cfg), which needs more "
                    f'than one image per {"process group" if norm == "SyncBN" else "process"} '
                    f'to train; train_dataloader.batch_size={batch} with {world_size} '
                    f'process(es) gives {images}. Use train_dataloader.batch_size >= 2, or '
                    "norm_cfg=dict(type='GN', num_groups=...) in the decode head.")
    return None
