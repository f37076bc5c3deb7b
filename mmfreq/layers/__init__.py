"""Pure-torch modules of mmfreq (no OpenMMLab imports here)."""
from .star_relu import StarReLU
from .fdconv import FDConv, FDLinear
from .fdconv_options import FBM_OPTIONS, FDCONV_OPTIONS
from .fdconv_conversion import (conv_weight_to_dft_weight, convert_modules_to_fdconv_,
                                convert_state_dict_to_fdconv, fdconv_from_conv)
from .frequency_band_modulation import FrequencyBandModulation
from .kernel_spatial_modulation import (KernelSpatialModulationGlobal,
                                        KernelSpatialModulationLocal)
from .attinv_attention import AttInvAttention
from .freq_scale import FreqScale
from .cond_conv import CondConv2d
from .dynamic_conv import DynamicConv2d
from .dcd_conv import DCDConv2d
from .od_conv import ODConv2d
from .kernel_warehouse import KernelWarehouseManager, KWConv2d
from .fdam_block import (FDAMBlock, FreqScaleBlockMixin, build_freq_scale,
                         freq_scale_residual)

__all__ = ['StarReLU', 'AttInvAttention', 'FreqScale', 'FDAMBlock', 'FreqScaleBlockMixin',
           'build_freq_scale', 'freq_scale_residual', 'FDConv', 'FDLinear',
           'FrequencyBandModulation', 'KernelSpatialModulationGlobal',
           'KernelSpatialModulationLocal', 'conv_weight_to_dft_weight', 'fdconv_from_conv',
           'convert_modules_to_fdconv_', 'convert_state_dict_to_fdconv', 'FDCONV_OPTIONS',
           'FBM_OPTIONS', 'CondConv2d', 'DynamicConv2d', 'DCDConv2d', 'ODConv2d', 'KWConv2d',
           'KernelWarehouseManager']
