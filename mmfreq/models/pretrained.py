"""Loading ImageNet / release weights into a backbone by name."""
from typing import Mapping

import torch
from torch import nn


def load_state_dict_with_report(module: nn.Module, state_dict: Mapping[str, torch.Tensor],
                                name: str, logger=None) -> dict:
    """``module.load_state_dict(state_dict, strict=False)``; returns
    ``dict(missing=[...], unexpected=[...])`` and logs both lists (as warnings) to ``logger``."""
    result = module.load_state_dict(state_dict, strict=False)
    report = dict(missing=list(result.missing_keys), unexpected=list(result.unexpected_keys))
    if logger is not None:
        if report['unexpected']:
            logger.warning(f'{name}: unexpected keys in the checkpoint: {report["unexpected"]}')
        if report['missing']:
            logger.warning(f'{name}: keys not in the checkpoint (keep their init): '
                           f'{report["missing"]}')
    return report
