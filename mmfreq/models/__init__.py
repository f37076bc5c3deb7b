"""OpenMMLab registrations of mmfreq's layers, backbones and necks."""
from . import conv_layers, resnet_fdconv  # noqa: F401  (FDConv conv layer; ResNet-FDConv)
from . import lsknet  # noqa: F401  (LSKNet backbone, mmrotate)
from . import checkpoint_conversion, convnext, swin_fdconv  # noqa: F401  (mmdet)
from . import det_data_preprocessor  # noqa: F401  (mmdet: training pad multiple)
from . import deit3_fdam, layer_decay_optim, mit_fdam, vit_fdam  # noqa: F401  (mmseg FDAM)
