"""No checkpoint runs code unless the user opted in (docs/checkpoints.md).

Malicious checkpoints -- pickles whose reduce creates a marker file, directly (``builtins.exec``)
or through ``getattr`` -- are served over HTTP by a server on 127.0.0.1 and offered through every
way a checkpoint enters a run: local paths, URLs, mmengine's named schemes, the stock test tool's
CHECKPOINT (``load_from``), ``init_cfg`` Pretrained and ``--resume``. Nothing may run, the refusal
names the opt-in and what it means and never suggests allow-listing, and the opt-in still works.
"""
import functools
import http.server
import os
import pathlib
import runpy
import subprocess
import sys
import threading

import pytest
import torch
from mmengine.runner import CheckpointLoader
from mmengine.runner import checkpoint as mm_checkpoint

import mmfreq  # noqa: F401  (registers mmfreq's checkpoint loaders)
from mmfreq.checkpoint import OPT_IN_ENV, UntrustedCheckpointError
from mmrun import CONFIGS, REPO, data_options, metric, short_schedule

SEG_CONFIG = CONFIGS / 'demo' / 'upernet_r50-tiny_40it_demo-ade20k-64x64.py'


class _Exec:
    """Unpickles as ``exec(code)``: writes ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f'open({self.marker!r}, "w").write("ran")',)


class _GetattrCall:
    """Unpickles as ``getattr(Path(marker), 'touch')()``: the ``getattr`` route."""

    def __init__(self, marker):
        self.marker = pathlib.Path(marker)

    def __reduce__(self):
        return self.marker.touch, ()


PAYLOADS = dict(exec=(_Exec, 'exec'), getattr=(_GetattrCall, 'getattr'))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path, monkeypatch):
    """``(folder, base_url)``: files put in ``folder`` are served at ``base_url``; torch's hub cache
    is a fresh folder, so every URL is downloaded."""
    folder = tmp_path / 'served'
    folder.mkdir()
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield folder, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


def _malicious(folder, marker, kind='exec', name='x.pth'):
    payload, _ = PAYLOADS[kind]
    torch.save({'state_dict': {'w': torch.ones(1)}, 'meta': payload(marker)}, folder / name)
    return name


def assert_refusal(message: str, refused_global: str = None):
    assert 'Refused to load the checkpoint' in message
    assert f'{OPT_IN_ENV}=1' in message and 'any code' in message
    assert 'safe_globals' not in message and 'allowlist' not in message.replace('-', '').lower()
    if refused_global:
        assert f'`{refused_global}`' in message


@pytest.mark.parametrize('kind', list(PAYLOADS))
@pytest.mark.parametrize('scheme', ['local', 'http', 'open-mmlab', 'torchvision', 'mmcls'])
def test_every_scheme_refuses_code(scheme, kind, served, tmp_path, monkeypatch):
    folder, base = served
    marker = tmp_path / 'marker'
    url = f'{base}/{_malicious(folder, marker, kind)}'
    named = {'open-mmlab': 'get_external_models', 'torchvision': 'get_torchvision_models',
             'mmcls': 'get_mmcls_models'}
    if scheme in named:  # the name resolves to our server's URL (mmengine's own tables otherwise)
        monkeypatch.setattr(mm_checkpoint, named[scheme], lambda: {'evil': url})
    filename = dict(local=str(folder / 'x.pth'), http=url).get(scheme, f'{scheme}://evil')
    with pytest.raises(UntrustedCheckpointError) as refused:
        CheckpointLoader.load_checkpoint(filename, map_location='cpu')
    assert not marker.exists()
    assert_refusal(str(refused.value), PAYLOADS[kind][1])
    assert (filename if scheme == 'local' else url) in str(refused.value)


def test_opt_in_loads_it_and_that_runs_its_code(served, tmp_path, monkeypatch):
    folder, base = served
    marker = tmp_path / 'marker'
    url = f'{base}/{_malicious(folder, marker, "getattr")}'
    monkeypatch.setenv(OPT_IN_ENV, '1')
    with pytest.warns(UserWarning, match=OPT_IN_ENV):
        checkpoint = CheckpointLoader.load_checkpoint(url, map_location='cpu')
    assert marker.exists()  # what the opt-in means
    assert torch.equal(checkpoint['state_dict']['w'], torch.ones(1))


def test_our_tools_refuse_code(tmp_path, capsys):
    marker = tmp_path / 'marker'
    path = tmp_path / _malicious(tmp_path, marker, 'getattr')
    convert = runpy.run_path(str(REPO / 'tools' / 'convert_to_fdconv.py'))['main']
    assert convert(['--model-type', 'resnet', str(path), str(tmp_path / 'out.pth')]) == 1
    assert_refusal(capsys.readouterr().err, 'getattr')
    from mmfreq.analysis.runner import load_model
    with pytest.raises(UntrustedCheckpointError) as refused:
        load_model(str(SEG_CONFIG), str(path))
    assert_refusal(str(refused.value), 'getattr')
    assert not marker.exists() and not (tmp_path / 'out.pth').exists()


def _stock(tool, args, env=None):
    proc = subprocess.run([sys.executable, f'tools/{tool}.py', *map(str, args)], cwd=REPO,
                          env=dict(os.environ, **(env or {})), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    return proc.returncode, proc.stdout


def _assert_refused_run(rc, log, marker, url):
    assert rc != 0, log[-3000:]
    assert not marker.exists()
    assert f'UntrustedCheckpointError: Refused to load the checkpoint {url}' in log, log[-3000:]
    assert_refusal(log)


def test_stock_test_tool_refuses_url_checkpoint(served, demo_root, tmp_path):
    """The stock test tool loads its CHECKPOINT argument as ``load_from``."""
    folder, base = served
    marker = tmp_path / 'marker'
    url = f'{base}/{_malicious(folder, marker)}'
    rc, log = _stock('test', [SEG_CONFIG, url, '--work-dir', tmp_path / 'work',
                              '--cfg-options', *data_options('mmseg', demo_root)])
    _assert_refused_run(rc, log, marker, url)


def test_stock_train_tool_refuses_pretrained_init_cfg_url(served, demo_root, tmp_path):
    folder, base = served
    marker = tmp_path / 'marker'
    url = f'{base}/{_malicious(folder, marker, "getattr")}'
    config = tmp_path / 'pretrained_from_url.py'
    config.write_text(f"_base_ = ['{SEG_CONFIG}']\n"
                      f"model = dict(backbone=dict(init_cfg=dict(type='Pretrained', "
                      f"checkpoint='{url}')))\n")
    rc, log = _stock('train', [config, '--work-dir', tmp_path / 'work', '--cfg-options',
                               *data_options('mmseg', demo_root), *short_schedule(1)])
    _assert_refused_run(rc, log, marker, url)


def test_stock_train_tool_refuses_resume_url(served, demo_root, tmp_path):
    folder, base = served
    marker = tmp_path / 'marker'
    url = f'{base}/{_malicious(folder, marker)}'
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    (work_dir / 'last_checkpoint').write_text(url)  # --resume continues from the file named here
    rc, log = _stock('train', [SEG_CONFIG, '--work-dir', work_dir, '--resume', '--cfg-options',
                               *data_options('mmseg', demo_root), *short_schedule(1)])
    _assert_refused_run(rc, log, marker, url)


def test_stock_test_tool_with_opt_in_loads_a_trusted_url_checkpoint(served, demo_root, tmp_path):
    """A checkpoint that is more than weights (here: a reference to ``getattr``, as stock
    mmengine's message hub writes; refused like the others without the opt-in) evaluates."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    folder, base = served
    cfg = Config.fromfile(str(SEG_CONFIG))
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    torch.save({'state_dict': model.state_dict(), 'meta': {'statistics': getattr}},
               folder / 'trusted.pth')
    rc, log = _stock('test', [SEG_CONFIG, f'{base}/trusted.pth', '--work-dir', tmp_path / 'work',
                              '--cfg-options', *data_options('mmseg', demo_root)],
                     env={OPT_IN_ENV: '1'})
    assert rc == 0, log[-3000:]
    assert metric('mmseg', log) >= 0
