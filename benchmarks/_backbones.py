"""Backbones the benchmarks build the way this repository's configs build them (mmseg registry)."""
import os

import mmfreq  # noqa: F401  (registers mmfreq's backbones, and imports mmseg's)
from mmengine.config import Config
from mmseg.registry import MODELS
from torch import nn

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')
# FDAM supplementary Table 1: the stock mmseg DeiT-S (row 1) and FDAM = AttInv + group FreqScale
DEIT_S_STOCK = 'fdam/upernet_deit-s16_8xb2-160k_ade20k-512x512.py'
DEIT_S_FDAM = 'fdam/upernet_deit-s16-table1-attinv-freqscale-group_8xb2-160k_ade20k-512x512.py'


def config_backbone(config: str, **overrides) -> nn.Module:
    """The backbone of ``configs/<config>`` (randomly initialised), its arguments updated with
    ``overrides`` (e.g. smaller widths)."""
    cfg = Config.fromfile(os.path.join(CONFIGS, config))
    return MODELS.build(dict(cfg.model.backbone.to_dict(), **overrides))

