"""StarReLU activation (MetaFormer baselines, Yu et al., 2022).

``StarReLU(x) = scale * relu(x) ** 2 + bias`` with learnable scalars ``scale`` (init 1) and
``bias`` (init 0), each stored with shape ``(1,)`` as in the FDConv / FDAM releases.
Any input shape; the output has the input's shape.
"""
import torch
from torch import nn


class StarReLU(nn.Module):

    def __init__(self, scale_value: float = 1.0, bias_value: float = 0.0, inplace: bool = False,
                 device=None, dtype=None):
        super().__init__()
        self.inplace = inplace
        self.scale_value, self.bias_value = float(scale_value), float(bias_value)
        self.scale = nn.Parameter(torch.empty(1, device=device, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(1, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.constant_(self.scale, self.scale_value)
        nn.init.constant_(self.bias, self.bias_value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * torch.relu(x) ** 2 + self.bias
