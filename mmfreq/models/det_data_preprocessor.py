"""A detection data preprocessor that pads training and test batches to different multiples.

mmdet 2.x padded in the data pipeline, so a config could pad training images to a multiple of 64
and test images to a multiple of 32 (the FDConv release's Mask R-CNN recipe does). mmdet 3 pads in
the model's data preprocessor, with one ``pad_size_divisor`` for both. For FDConv the padding is
part of the input of every layer's global pooling (KSM) and FFT (FBM), so the recipe keeps it.
"""
from typing import Optional

from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.registry import MODELS

__all__ = ['TrainPadDetDataPreprocessor']


@MODELS.register_module()
class TrainPadDetDataPreprocessor(DetDataPreprocessor):
    """mmdet's ``DetDataPreprocessor`` with its own pad multiple for training batches.

    Training batches are padded (after normalisation, with ``pad_value``) to a multiple of
    ``train_pad_size_divisor``, test batches to a multiple of ``pad_size_divisor``. Each image's
    ``pad_shape`` (used for the RPN's valid anchors) and the batch's ``batch_input_shape`` follow
    the multiple in use, as an mmdet 2.x ``Pad`` transform set them.

    Args:
        train_pad_size_divisor: pad multiple for training batches; ``None``: ``pad_size_divisor``.
        *args, **kwargs: as ``DetDataPreprocessor``.
    """

    def __init__(self, *args, train_pad_size_divisor: Optional[int] = None, **kwargs):
        super().__init__(*args, **kwargs)
        if train_pad_size_divisor is None:
            train_pad_size_divisor = self.pad_size_divisor
        if not isinstance(train_pad_size_divisor, int) or train_pad_size_divisor < 1:
            raise ValueError(f'train_pad_size_divisor must be a positive int (e.g. 64), got '
                             f'{train_pad_size_divisor!r}')
        self.train_pad_size_divisor = train_pad_size_divisor

    def forward(self, data: dict, training: bool = False) -> dict:
        test_pad_size_divisor = self.pad_size_divisor
        if training:
            self.pad_size_divisor = self.train_pad_size_divisor
        try:
            return super().forward(data, training)
        finally:
            self.pad_size_divisor = test_pad_size_divisor
