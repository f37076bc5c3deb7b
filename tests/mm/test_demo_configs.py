"""The demo configs (configs/demo/): each takes its data and schedule from the one demo base of its
dataset (configs/demo/_base_/*_demo.py) and reads the folders tools/make_demo_data.py writes, in the
layout the stock dataset classes expect."""
import pytest
from mmengine.config import Config
from mmrun import CONFIGS, config_params

from mmfreq.demo_data import dataset_kwargs

DEMO = CONFIGS / 'demo'
DEMO_CONFIGS = sorted(p.name for p in DEMO.glob('*.py'))
DEMO_BASES = sorted(p.name for p in (DEMO / '_base_').glob('*_demo.py'))
DATASETS = dict(ADE20KDataset='ade20k', CocoDataset='coco', DOTADataset='dota',
                CityscapesDataset='cityscapes')


def _unscoped(value):
    """A config value without the ``_scope_`` keys that inheriting a ``package::`` base adds and
    the ``_delete_`` flags that merging consumes."""
    if isinstance(value, dict):
        return {k: _unscoped(v) for k, v in value.items() if k not in ('_scope_', '_delete_')}
    if isinstance(value, (list, tuple)):
        return type(value)(_unscoped(v) for v in value)
    return value


def _items(tree):
    """(key, value) of every entry of a nested dict."""
    for key, value in tree.items():
        yield key, value
        if isinstance(value, dict):
            yield from _items(value)


def _contains(big, small) -> bool:
    """Whether every entry of ``small`` is in ``big`` (recursively for dicts)."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and _contains(big[k], v)
                                             for k, v in small.items())
    return _unscoped(big) == _unscoped(small)


def test_one_demo_base_per_dataset():
    roots = [Config.fromfile(DEMO / '_base_' / name).demo.data_root for name in DEMO_BASES]
    assert sorted(r.split('/')[2] for r in roots) == sorted(DATASETS.values())


@pytest.mark.parametrize('config', config_params(DEMO / name for name in DEMO_CONFIGS))
def test_demo_config_data_and_schedule_come_from_its_demo_base(config):
    cfg = Config.fromfile(config)
    dataset = DATASETS[cfg.train_dataloader.dataset.type]
    bases = {base: Config.fromfile(DEMO / '_base_' / base).demo for base in DEMO_BASES}
    assert [b for b, demo in bases.items() if _unscoped(cfg.demo) == _unscoped(demo)] == \
        [b for b in DEMO_BASES if b.startswith(dataset)]
    demo = cfg.demo
    # the schedule
    assert cfg.max_iters == demo.max_iters == cfg.train_cfg.max_iters == 40
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_cfg.val_interval == cfg.default_hooks.checkpoint.interval == demo.max_iters
    assert _unscoped(cfg.param_scheduler) == _unscoped(demo.param_scheduler)
    # the data: the demo folders, in the layout of the stock dataset class
    assert cfg.data_root == demo.data_root and demo.data_root.startswith('data/demo/')
    # every demo config validates and tests exactly as its demo base says
    val_loaders = [v for k, v in _items(demo) if k == 'val_dataloader']
    assert any(_contains(cfg.val_dataloader, v) for v in val_loaders)
    assert _unscoped(cfg.test_dataloader) == _unscoped(cfg.val_dataloader)
    for split, loader in (('train', cfg.train_dataloader), ('val', cfg.val_dataloader)):
        expected = dataset_kwargs(dataset, split, 'data/demo')
        assert loader.dataset.type == expected.pop('type')
        assert loader.dataset.data_root.rstrip('/') == expected.pop('data_root').rstrip('/')
        for key, value in expected.items():
            assert _unscoped(loader.dataset[key]) == value, (split, key)
        assert loader.num_workers == 0 and not loader.persistent_workers
