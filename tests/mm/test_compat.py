"""Compatibility fixes and safe loading (mmfreq.compat, mmfreq.checkpoint), the CPU adaptation of
stock runs and the tools' help (mmfreq.launch)."""
import io
import pickle
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer

import mmfreq  # noqa: F401  (applies the fixes)
from mmfreq import checkpoint, launch
from mmrun import CONFIGS, run


def _buffer():
    buffer = HistoryBuffer()
    for value in (1.0, 2.0, 4.0):
        buffer.update(value)
    return buffer


def _save(obj) -> io.BytesIO:
    stream = io.BytesIO()
    torch.save(obj, stream)
    stream.seek(0)
    return stream


def test_collections_aliases_for_mmrotate():
    pytest.importorskip('mmrotate', reason='mmrotate is not installed (it needs mmdet <= 3.1.0)')
    import collections
    assert collections.Sequence is __import__('collections.abc').abc.Sequence
    import mmrotate  # noqa: F401  (does `from collections import Sequence`)


def test_history_buffer_state_has_no_function_references():
    assert b'getattr' not in pickle.dumps(_buffer())


def test_our_checkpoints_load_with_weights_only():
    saved = dict(message_hub=dict(log_scalars={'train/loss': _buffer()}),
                 meta=dict(seed=np.int64(3), scale=np.float32(0.5), arr=np.arange(3)),
                 state_dict={'w': torch.ones(2)})
    loaded = checkpoint.load(_save(saved))  # torch's weights_only=True from torch 2.6 on
    restored = loaded['message_hub']['log_scalars']['train/loss']
    assert restored.mean() == pytest.approx(7 / 3)
    assert restored.max() == 4.0  # statistics methods are back after loading
    assert loaded['meta']['arr'].tolist() == [0, 1, 2]


def test_numpy1_checkpoints_load_with_weights_only():
    """mmcv 1.x / mmdet 2.x checkpoints were pickled under numpy 1.x, whose module name for the
    array and scalar constructors was ``numpy.core.multiarray``."""
    buffer = io.BytesIO()
    torch.save(dict(meta=dict(best_score=np.float64(0.526), hist=np.arange(3)),
                    state_dict={'w': torch.ones(2)}), buffer,
               _use_new_zipfile_serialization=False)  # a plain pickle: names can be rewritten
    old_names = buffer.getvalue().replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
    assert b'numpy.core.multiarray\nscalar' in old_names
    loaded = checkpoint.load(io.BytesIO(old_names))
    assert loaded['meta']['best_score'] == pytest.approx(0.526)
    assert loaded['meta']['hist'].tolist() == [0, 1, 2]


def test_getattr_stays_forbidden_unless_opted_in(monkeypatch):
    payload = _save({'call': getattr})  # what a stock mmengine HistoryBuffer pickles
    with pytest.raises(checkpoint.UntrustedCheckpointError, match='`getattr`') as refused:
        checkpoint.load(payload)
    assert 'safe_globals' not in str(refused.value)
    payload.seek(0)
    monkeypatch.setenv(checkpoint.OPT_IN_ENV, '1')  # torch's own opt-in
    with pytest.warns(UserWarning, match=checkpoint.OPT_IN_ENV):
        assert checkpoint.load(payload)['call'] is getattr


def test_torch_load_is_torch_own():
    assert torch.load.__module__ == 'torch.serialization'


def _demo_config():
    return Config.fromfile(str(CONFIGS / 'demo' / 'upernet_r50-tiny_40it_demo-ade20k-64x64.py'))


def test_cpu_adaptation_of_a_single_process_config():
    cfg = _demo_config()
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'
    changes = launch.adapt_config_for_cpu(cfg)
    assert changes == ['SyncBN -> BN', 'AMP -> fp32 (AMP needs CUDA)']
    assert 'SyncBN' not in cfg.pretty_text
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    assert cfg.optim_wrapper.type == 'OptimWrapper' and 'loss_scale' not in cfg.optim_wrapper
    assert 'model_wrapper_cfg' not in cfg


def test_cpu_adaptation_of_a_distributed_config():
    cfg = _demo_config()
    cfg.launcher = 'pytorch'
    cfg.model_wrapper_cfg = dict(find_unused_parameters=True)
    launch.adapt_config_for_cpu(cfg)
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel', device_ids=None,
                                         broadcast_buffers=False, find_unused_parameters=True)


def test_stock_script_lookup():
    for scope in launch.installed_scopes():  # mmyolo is an optional extra
        assert launch.stock_script(scope, 'train').name == 'train.py'
    with pytest.raises(ValueError, match="default_scope must be one of"):
        launch.stock_script('mmocr', 'train')


def test_unsupported_cpu_launcher_is_named():
    with pytest.raises(ValueError, match="--launcher 'mpi'"):
        launch.init_cpu_distributed('mpi')


@pytest.mark.parametrize('command, tool', [(['python', 'tools/train.py'], 'train'),
                                           (['bash', 'tools/dist_test.sh'], 'test')])
def test_help_prints_the_stock_options(command, tool):
    command = [sys.executable if part == 'python' else part for part in command]
    out = run([*command, '--help'], timeout=300, env=dict(PYTHON=sys.executable))
    scopes = launch.installed_scopes()
    assert out.count('usage:') == 1 + len(scopes) + (command[0] == 'bash')
    assert '{' + 'tool}' not in out
    for scope in scopes:
        assert f"--- options of {scope}'s stock tools/{tool}.py" in out
    assert '--work-dir' in out and '--cfg-options' in out and '--launcher' in out
    assert ('--show-dir' if tool == 'test' else '--auto-scale-lr') in out
