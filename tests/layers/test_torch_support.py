"""The lowest supported torch (mmfreq.layers.torch_support.MIN_TORCH) is the one pyproject and the
README state, and the spellings that changed since then give what the current torch gives."""
import re
from pathlib import Path

import torch
from torch import nn

from mmfreq.layers import torch_support

REPO = Path(__file__).resolve().parents[2]


def test_the_stated_lowest_torch_is_the_one_the_code_supports():
    lowest = '.'.join(map(str, torch_support.MIN_TORCH))
    pyproject = (REPO / 'pyproject.toml').read_text()
    assert re.search(r'"torch>=([\d.]+)"', pyproject).group(1) == lowest
    assert f'torch ≥ {lowest}' in (REPO / 'README.md').read_text()
    assert torch_support.TORCH_VERSION >= torch_support.MIN_TORCH


def test_autocast_state():
    assert not torch_support.autocast_enabled('cpu')
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        assert torch_support.autocast_enabled('cpu')
        assert torch_support.autocast_dtype('cpu') == torch.bfloat16
        assert not torch_support.autocast_enabled('cuda')


def test_not_compiling_in_eager_mode():
    assert not torch_support.is_compiling() and not torch_support.is_dynamo_compiling()


def test_load_state_dict_pre_hook_sees_the_state_dict():
    seen = []
    layer = nn.Linear(2, 2)
    torch_support.register_load_state_dict_pre_hook(
        layer, lambda module, state_dict, prefix, *rest: seen.append((module, sorted(state_dict))))
    layer.load_state_dict(nn.Linear(2, 2).state_dict())
    assert seen == [(layer, ['bias', 'weight'])]
