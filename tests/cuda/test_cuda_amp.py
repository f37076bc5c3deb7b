"""fp16 AMP (``--amp``, mmengine's ``AmpOptimWrapper``) for 2 iterations of every demo config,
with the stock train tools on CUDA: the losses are finite and the run really used AMP on the GPU."""
import pytest
import torch
from mmengine.config import Config
from mmrun import (CONFIGS, assert_finite_losses, config_params, data_options, short_schedule,
                   train)

from mmfreq.launch import config_scope

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(),
                                 reason='needs a CUDA GPU (torch.cuda.is_available() is False)')]

DEMO_CONFIGS = sorted((CONFIGS / 'demo').glob('*.py'))


@pytest.mark.parametrize('config', config_params(DEMO_CONFIGS))
def test_fp16_amp_two_iterations(config, demo_root, tmp_path):
    log = train(config, tmp_path, data_options(config_scope(str(config)), demo_root)
                + short_schedule(2), extra=['--amp'])
    assert 'mmfreq: no CUDA' not in log  # ran on the GPU, not adapted for the CPU
    assert_finite_losses(log, 2)
    dumped = Config.fromfile(tmp_path / config.name)  # the config the Runner was built from
    assert dumped.optim_wrapper.type == 'AmpOptimWrapper'
