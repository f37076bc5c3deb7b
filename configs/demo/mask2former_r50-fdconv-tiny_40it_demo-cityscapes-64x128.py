# Tiny Mask2Former R50-FDConv (../fdconv/mask2former_r50-fdconv_8xb2-90k_cityscapes-512x1024.py
# with the ResNet at 1/4 width, a 32-channel head, one pixel-decoder layer, three decoder layers and
# 20 queries; no pretrained weights) on the demo Cityscapes data (tools/make_demo_data.py): 64x128
# crops, 40 iterations on CPU. For tests and the demo. The bottleneck convs wider than 16 channels
# (stages 2-4) are FDConvs; stage 1 falls back to plain convs.
_base_ = ['../fdconv/mask2former_r50-fdconv_8xb2-90k_cityscapes-512x1024.py',
          './_base_/cityscapes-64x128_40it_demo.py']

data_root = {{_base_.demo.data_root}}
crop_size = {{_base_.demo.crop_size}}
max_iters = {{_base_.demo.max_iters}}

embed = dict(embed_dims=32, num_heads=4)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(base_channels=16, init_cfg=None),
    decode_head=dict(
        in_channels=[64, 128, 256, 512], feat_channels=32, out_channels=32, num_queries=20,
        pixel_decoder=dict(
            encoder=dict(num_layers=1, layer_cfg=dict(
                self_attn_cfg=embed, ffn_cfg=dict(embed_dims=32, feedforward_channels=64))),
            positional_encoding=dict(num_feats=16)),
        positional_encoding=dict(num_feats=16),
        transformer_decoder=dict(num_layers=3, layer_cfg=dict(
            self_attn_cfg=embed, cross_attn_cfg=embed,
            ffn_cfg=dict(embed_dims=32, feedforward_channels=64))),
        train_cfg=dict(num_points=196)))  # 12544 points at 1/64 of the crop area

train_pipeline = {{_base_.demo.train_pipeline}}
test_pipeline = {{_base_.demo.test_pipeline}}
train_dataloader = {{_base_.demo.train_dataloader}}
val_dataloader = {{_base_.demo.val_dataloader}}
test_dataloader = val_dataloader

# a higher lr for 40 iterations; the recipe's AdamW, clipping and paramwise_cfg are kept
optim_wrapper = dict(optimizer=dict(lr=5e-3))
param_scheduler = {{_base_.demo.param_scheduler}}
train_cfg = {{_base_.demo.train_cfg}}
default_hooks = {{_base_.demo.default_hooks}}
