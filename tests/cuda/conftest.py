"""Checks of an install on a GPU: mmcv's CUDA ops, mmfreq's layers on CUDA against the CPU, and
fp16 AMP training of every demo config with the stock tools.

Every test here is marked ``cuda`` and skipped without a CUDA device (``pytest -m cuda -rs``
runs them and shows why any was skipped)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'mm'))  # mmrun: the stock-tool helpers


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """Demo ADE20K / COCO / DOTA data in the real formats, written once per test session."""
    from mmfreq.demo_data import make_demo_data
    root = tmp_path_factory.mktemp('demo_data')
    make_demo_data(root, num_train=8, num_val=4, size=128, seed=0)
    return root


@pytest.fixture
def full_fp32():
    """True fp32 on CUDA: cuDNN convolutions default to TF32 on Ampere and newer GPUs, which
    alone differs from the CPU by ~1e-3."""
    import torch
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
