"""StarReLU activation (MetaFormer baselines, Yu et al., 2022).

``StarReLU(x) = scale * relu(x) ** 2 + bias`` with learnable scalars ``scale`` (init 1) and
``bias`` (init 0), each stored with shape ``(1,)`` as in the FDConv / FDAM releases.
Any input shape; the output has the input's shape.
"""
import torch
from torch import nn


class StarReLU(nn.Module):

    def __init__(self, scale_value: float = 1.0, bias_value: float = 0.0, inplace: bool = False):
        super().__init__()
        self.inplace = inplace
        self.scale = nn.Parameter(torch.full((1,), float(scale_value)))
        self.bias = nn.Parameter(torch.full((1,), float(bias_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * torch.relu(x) ** 2 + self.bias
