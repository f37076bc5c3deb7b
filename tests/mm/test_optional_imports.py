"""``import mmfreq`` registers whichever codebases are installed and skips the others; with no mm
package at all, ``mmfreq`` and ``mmfreq.layers`` work and the layer tests pass.

Packages are hidden in a subprocess (``hide_packages/sitecustomize.py``): they then look exactly
uninstalled (``find_spec`` is None, ``import`` raises ModuleNotFoundError), also to the subprocesses
that process starts."""
import os
import subprocess
import sys

import pytest
from mmrun import REPO

MM_PACKAGES = ('mmengine', 'mmcv', 'mmdet', 'mmseg', 'mmrotate')


def run_hiding(hidden, args, timeout=300) -> str:
    path = os.pathsep.join(filter(None, [str(REPO / 'tests' / 'mm' / 'hide_packages'),
                                         os.environ.get('PYTHONPATH')]))
    env = dict(os.environ, MMFREQ_TEST_HIDE=','.join(hidden), PYTHONPATH=path)
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-6000:]
    return proc.stdout


REGISTRATIONS = '''
import importlib, importlib.util, warnings
warnings.simplefilter('always')
import mmfreq, mmfreq.models
print('registered', mmfreq.models.registered)
for scope, name in (('mmdet', 'ResNetFDConv'), ('mmdet', 'SwinTransformerFDConv'),
                    ('mmseg', 'ResNetV1cFDConv'), ('mmseg', 'VisionTransformerFDAM'),
                    ('mmseg', 'SwinTransformerFDConv'),
                    ('mmrotate', 'LSKNet')):
    if importlib.util.find_spec(scope) is not None:
        assert importlib.import_module(scope + '.registry').MODELS.get(name) is not None, name
        print('has', scope, name)
'''


@pytest.mark.parametrize('hidden, expected', [
    (('mmrotate',), ['mmengine', 'mmdet', 'mmseg']),
    (('mmseg',), ['mmengine', 'mmdet', 'mmrotate']),
    (('mmdet', 'mmrotate'), ['mmengine', 'mmseg']),  # mmrotate needs mmdet
])
def test_import_registers_the_installed_codebases(hidden, expected):
    out = run_hiding(hidden, ['-c', REGISTRATIONS])
    assert f'registered {expected}' in out
    for scope in expected[1:]:
        assert f'has {scope} ' in out
    for scope in hidden:
        assert f'has {scope} ' not in out
    assert 'mmfreq: ' not in out  # a codebase that is not installed is skipped without a warning


BROKEN_MMSEG = """
import importlib.abc, importlib.machinery, sys


class BrokenMMSeg(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    # mmseg installed (find_spec finds it) but failing on import, as with a missing dependency
    def find_spec(self, name, path, target=None):
        return importlib.machinery.ModuleSpec(name, self) if name == 'mmseg' else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise ImportError('mmseg is broken for this test')


sys.meta_path.insert(0, BrokenMMSeg())
"""


def test_an_installed_but_broken_codebase_is_skipped_everywhere():
    """The modules shared by mmdet and mmseg register into mmdet without touching mmseg."""
    out = run_hiding((), ['-c', BROKEN_MMSEG + REGISTRATIONS.replace(
        "if importlib.util.find_spec(scope) is not None:", "if scope in mmfreq.models.registered:")])
    assert "registered ['mmengine', 'mmdet', 'mmrotate']" in out, out[-3000:]
    assert out.count('mmfreq: mmseg is installed but cannot be imported') == 1, out[-3000:]
    assert 'has mmdet ResNetFDConv' in out and 'has mmdet SwinTransformerFDConv' in out


def test_layers_without_any_mm_package():
    code = '''
import sys, torch, mmfreq
from mmfreq.layers import FDConv
from mmfreq.checkpoint import load
assert not any(name.split('.')[0] in %r for name in sys.modules), sorted(sys.modules)
print(FDConv(32, 32, 3, padding=1, kernel_num=4)(torch.randn(1, 32, 8, 8)).shape)
''' % (MM_PACKAGES,)
    assert 'torch.Size([1, 32, 8, 8])' in run_hiding(MM_PACKAGES, ['-c', code])


def test_layer_tests_pass_without_any_mm_package():
    out = run_hiding(MM_PACKAGES, ['-m', 'pytest', 'tests/layers', '-q', '-x', '-p',
                                   'no:cacheprovider'], timeout=900)
    assert ' passed' in out, out[-3000:]
