"""The weights-only load that mmfreq uses on torch < 2.6 (mmfreq.restricted_unpickler), run here on
any torch: mmfreq.checkpoint is switched to it, so every load path takes the route it takes on
the older stack, and must refuse, accept and word its refusals exactly as on torch >= 2.6."""
import io
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

import mmfreq  # noqa: F401  (registers the loaders)
from mmfreq import checkpoint, compat, restricted_unpickler
from test_checkpoint_safety import PAYLOADS, _malicious, assert_refusal


@pytest.fixture
def old_torch_route(monkeypatch):
    """mmfreq.checkpoint as on torch < 2.6: the restricted unpickler, with mmfreq's allow-list."""
    monkeypatch.setattr(checkpoint, '_TORCH_LOADS_SAFELY', False)
    restricted_unpickler.allow_globals(compat.checkpoint_safe_globals())


def _saved(obj, **kwargs) -> io.BytesIO:
    stream = io.BytesIO()
    torch.save(obj, stream, **kwargs)
    stream.seek(0)
    return stream


@pytest.mark.parametrize('kind', list(PAYLOADS))
@pytest.mark.parametrize('legacy', [False, True], ids=['zip', 'legacy'])
def test_code_is_refused_before_it_runs(kind, legacy, tmp_path, old_torch_route):
    marker = tmp_path / 'marker'
    name = _malicious(tmp_path, marker, kind)
    if legacy:  # the format mmdet 2 / mmcv 1 releases were written in
        path = tmp_path / 'legacy.pth'
        payload, _ = PAYLOADS[kind]
        torch.save({'meta': payload(marker)}, path, _use_new_zipfile_serialization=False)
    else:
        path = tmp_path / name
    with pytest.raises(checkpoint.UntrustedCheckpointError) as refused:
        checkpoint.load(str(path))
    assert not marker.exists()
    assert_refusal(str(refused.value), PAYLOADS[kind][1])


@pytest.mark.parametrize('scheme', ['local', 'open-mmlab'])
def test_mmengine_loaders_refuse_code(scheme, tmp_path, monkeypatch, old_torch_route):
    """mmengine's loaders call torch.load themselves (open-mmlab:// names a file in mmengine's
    home when its table gives no URL)."""
    from mmengine.runner import checkpoint as mm_checkpoint
    marker = tmp_path / 'marker'
    path = tmp_path / _malicious(tmp_path, marker, 'getattr')
    filename = str(path)
    if scheme == 'open-mmlab':
        monkeypatch.setattr(mm_checkpoint, 'get_external_models', lambda: {'evil': path.name})
        monkeypatch.setattr(mm_checkpoint, '_get_mmengine_home', lambda: str(tmp_path))
        filename = 'open-mmlab://evil'
    with pytest.raises(checkpoint.UntrustedCheckpointError) as refused:
        CheckpointLoader.load_checkpoint(filename, map_location='cpu')
    assert not marker.exists()
    assert_refusal(str(refused.value), 'getattr')
    assert torch.load.__module__ == 'torch.serialization'  # torch's own again after the load


def test_what_our_runs_write_loads(old_torch_route):
    buffer = HistoryBuffer()
    for value in (1.0, 2.0, 4.0):
        buffer.update(value)
    saved = dict(message_hub=dict(log_scalars={'loss': buffer}),
                 meta=dict(seed=np.int64(3), scale=np.float32(0.5), arr=np.arange(3),
                           shape=torch.Size([2]), device=torch.device('cpu'), tags={'a', 'b'}),
                 state_dict={'w': torch.ones(2), 'p': torch.nn.Parameter(torch.zeros(3)),
                             'h': torch.ones(2, dtype=torch.float16)})
    for legacy in (False, True):
        loaded = checkpoint.load(_saved(saved, _use_new_zipfile_serialization=not legacy))
        assert loaded['message_hub']['log_scalars']['loss'].max() == 4.0
        assert loaded['meta']['arr'].tolist() == [0, 1, 2] and loaded['meta']['seed'] == 3
        assert loaded['meta']['tags'] == {'a', 'b'}
        assert torch.equal(loaded['state_dict']['h'], saved['state_dict']['h'])


def test_torchscript_archive_is_refused(old_torch_route):
    scripted = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.ReLU()), scripted)
    scripted.seek(0)
    with pytest.raises(checkpoint.UntrustedCheckpointError, match='TorchScript archive'):
        checkpoint.load(scripted, source='scripted.pt')


def test_opt_in_loads_everything_with_torch_warning(tmp_path, monkeypatch, old_torch_route):
    marker = tmp_path / 'marker'
    path = tmp_path / _malicious(tmp_path, marker, 'getattr')
    monkeypatch.setenv(checkpoint.OPT_IN_ENV, '1')
    with pytest.warns(UserWarning, match=checkpoint.OPT_IN_ENV):
        loaded = CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert marker.exists() and torch.equal(loaded['state_dict']['w'], torch.ones(1))


def test_refusal_names_the_global_as_torch_does():
    stream = io.BytesIO(pickle.dumps(getattr, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match='GLOBAL getattr was not an allowed'):
        restricted_unpickler.RestrictedUnpickler(stream).load()


def test_blocked_modules_are_named_as_torch_names_them(old_torch_route):
    stream = io.BytesIO()
    torch.save({'call': __import__('os').system}, stream)
    stream.seek(0)
    with pytest.raises(checkpoint.UntrustedCheckpointError, match='blocked module `posix`'):
        checkpoint.load(stream, source='system.pth')
