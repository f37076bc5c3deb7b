# Baseline of the FDAM SegFormer row: SegFormer MiT-B0 on ADE20K, 512x512, 160k iterations, 8x2
# images (paper: 37.4 mIoU, mmseg's SegFormer-B0 result). The stock mmseg config, unchanged,
# including its test pipeline (no ResizeToMultiple, as for mmseg's 37.4).
_base_ = ['mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmfreq'], allow_failed_imports=False)
