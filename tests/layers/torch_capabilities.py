"""What the installed torch's own layers accept, so that a drop-in test asks of mmfreq's layers
exactly that (torch 2.1 has no float16 conv or matmul on the CPU, nor float16 CPU autocast)."""
import functools

import pytest
import torch
import torch.nn.functional as F


@functools.lru_cache(maxsize=None)
def _cpu_kernels(dtype: torch.dtype) -> bool:
    try:
        F.conv2d(torch.ones(1, 1, 3, 3, dtype=dtype), torch.ones(1, 1, 1, 1, dtype=dtype))
        F.linear(torch.ones(1, 2, dtype=dtype), torch.ones(2, 2, dtype=dtype))
    except RuntimeError:
        return False
    return True


@functools.lru_cache(maxsize=None)
def _cpu_autocast(dtype: torch.dtype) -> bool:
    try:
        with torch.autocast(device_type='cpu', dtype=dtype):
            F.linear(torch.ones(1, 2), torch.ones(2, 2))
    except RuntimeError:
        return False
    return True


def skip_without_cpu_kernels(dtype: torch.dtype) -> None:
    """Skip unless torch's own conv and linear run in ``dtype`` on the CPU."""
    if not _cpu_kernels(dtype):
        pytest.skip(f'torch {torch.__version__} has no {dtype} conv/linear on the CPU, so neither '
                    'has the torch layer this one replaces')


def skip_without_cpu_autocast(dtype: torch.dtype) -> None:
    """Skip unless torch's CPU autocast accepts ``dtype``."""
    if not _cpu_autocast(dtype):
        pytest.skip(f'torch {torch.__version__} has no CPU autocast to {dtype}')
