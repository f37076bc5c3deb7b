"""The release's DeiT-III + FDAM segmentation backbone and its neck (SPEC "Backbones whose released
checkpoints users will load").

Parameter names and shapes follow the authors' ADE20K (UPerNet) checkpoint, so it loads by name
(keys ``backbone.<name>`` in a segmentor)::

    patch_embed.proj.{weight,bias}           Conv2d(in_channels, C, 16, stride 16)
    pos_embed                                (1, 14*14, C)  (224 pre-training grid, no class token)
    blocks.{i}.norm1 / attn / norm2 / mlp.fc1 / mlp.fc2 / gamma_1 / gamma_2 /
              freq_scale_1 / freq_scale_2    FDAMBlock (mmfreq.layers): AttInv attention with qkv
                                             bias, GELU MLP, layer scale (init 1e-4), group
                                             FreqScale (n=4, g=16, size 14, reweight ratio 0.0625)
    fpn1.0, fpn1.1, fpn1.3                   ConvTranspose2d(C, C, 2, 2), BN, (GELU),
                                             ConvTranspose2d(C, C, 2, 2)
    fpn2.0                                   ConvTranspose2d(C, C, 2, 2)
    fpn3 / fpn4                              identity / max-pool 2x (no parameters)

There is no class token and no final norm. Forward: ``x = patch_embed(img) + pos_embed`` (the
embedding resized bicubically to the patch grid when it differs), then the blocks
(``a = attn(norm1(x)); a = FreqScale1(a) + a; x = x + drop_path(gamma_1 * a)``, same for the
MLP); the tokens after blocks ``out_indices`` (2, 5, 8, 11) become maps ``(B, C, H/16, W/16)``;
the neck turns them into strides 4, 8, 16, 32.

The neck is part of the backbone (``with_fpn=True``, keys ``backbone.fpn1...``, the BEiT-style
segmentation layout). :class:`DeiT3FDAMNeck` is the same neck as a separate mmseg neck (keys
``neck.fpn1...``) for use with ``with_fpn=False``.
"""
import math
from collections import OrderedDict
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_norm_layer
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmengine.runner.checkpoint import CheckpointLoader
from mmseg.registry import MODELS
from torch import nn

from ..layers import FDAMBlock
from .checkpoint_conversion import extract_state_dict, strip_prefix
from .pretrained import load_state_dict_with_report
from .vit_fdam import check_fdam_options

__all__ = ['DeiT3FDAM', 'DeiT3FDAMNeck', 'build_release_fpn', 'resize_pos_embed']

CLASSIFIER_NAMES = ('head', 'norm', 'fc_norm', 'head_drop')
RELEASE_FREQ_SCALE = dict(mode='group', num_filters=4, groups=16, size=14, reweight_ratio=0.0625)


def resize_pos_embed(pos_embed: torch.Tensor, src_hw: Tuple[int, int],
                     dst_hw: Tuple[int, int]) -> torch.Tensor:
    """Bicubic resize of ``(1, h*w, C)`` position embeddings from grid ``src_hw`` to ``dst_hw``."""
    if tuple(src_hw) == tuple(dst_hw):
        return pos_embed
    channels = pos_embed.shape[-1]
    grid = pos_embed.reshape(1, *src_hw, channels).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=tuple(dst_hw), mode='bicubic', align_corners=False)
    return grid.flatten(2).transpose(1, 2)


def build_release_fpn(embed_dims: int, norm_cfg: dict) -> dict:
    """The release neck's four modules ``fpn1..fpn4`` (strides 4, 8, 16, 32 from stride 16)."""
    return dict(
        fpn1=nn.Sequential(
            nn.ConvTranspose2d(embed_dims, embed_dims, kernel_size=2, stride=2),
            build_norm_layer(norm_cfg, embed_dims)[1],
            nn.GELU(),
            nn.ConvTranspose2d(embed_dims, embed_dims, kernel_size=2, stride=2)),
        fpn2=nn.Sequential(nn.ConvTranspose2d(embed_dims, embed_dims, kernel_size=2, stride=2)),
        fpn3=nn.Identity(),
        fpn4=nn.MaxPool2d(kernel_size=2, stride=2))


def _apply_fpn(module: nn.Module, feats: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
    if len(feats) != 4:
        raise ValueError(f'the release neck takes 4 feature maps, got {len(feats)}')
    return tuple(getattr(module, f'fpn{i + 1}')(feat) for i, feat in enumerate(feats))


class _PatchEmbed(nn.Module):
    """``proj``: Conv2d(in_channels, C, patch, stride patch); returns tokens and the grid."""

    def __init__(self, in_channels: int, embed_dims: int, patch_size: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor):
        x = self.proj(x)
        return x.flatten(2).transpose(1, 2), tuple(x.shape[-2:])


@MODELS.register_module()
class DeiT3FDAM(BaseModule):
    """DeiT-III with FDAM, the release's ADE20K backbone (see the module docstring).

    Args:
        patch_size (int): 16.
        in_channels (int): 3.
        embed_dims (int): C; 768 for DeiT-III-B.
        depth (int): number of blocks; 12.
        num_heads (int): 12.
        mlp_ratio (float): 4.
        qkv_bias (bool): bias of ``qkv``; True in the released ADE20K config.
        drop_rate (float): dropout after the position embedding, in the MLP and after ``proj``.
        attn_drop_rate (float): attention dropout.
        drop_path_rate (float): stochastic depth, increasing linearly to this value; 0.15.
        layer_scale_init (float | None): init of ``gamma_1`` / ``gamma_2``; 1e-4.
        attn_inv (bool): AttInv attention (FDAM); True.
        freq_scale (dict | None): FreqScale config; the release's group form by default.
        pretrain_img_size (int): pre-training image size, sets the ``pos_embed`` grid (224: 14x14).
        out_indices (sequence of int): blocks whose outputs are returned; (2, 5, 8, 11).
        with_fpn (bool): apply the release neck ``fpn1..fpn4`` (needs 4 outputs); True.
        fpn_norm_cfg (dict): norm of ``fpn1.1``; BN (SyncBN in the configs).
        norm_eps (float): LayerNorm epsilon; 1e-6.
        with_cp (bool): gradient checkpointing of the blocks.
        init_cfg (dict | None): mmengine init config (e.g. ``Pretrained``).
    """

    def __init__(self, patch_size: int = 16, in_channels: int = 3, embed_dims: int = 768,
                 depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.,
                 qkv_bias: bool = True, drop_rate: float = 0., attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.15, layer_scale_init: Optional[float] = 1e-4,
                 attn_inv: bool = True, freq_scale: Optional[dict] = RELEASE_FREQ_SCALE,
                 pretrain_img_size: int = 224, out_indices: Sequence[int] = (2, 5, 8, 11),
                 with_fpn: bool = True, fpn_norm_cfg: dict = dict(type='BN'),
                 norm_eps: float = 1e-6, with_cp: bool = False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        for name, value in (('patch_size', patch_size), ('embed_dims', embed_dims),
                            ('depth', depth), ('num_heads', num_heads),
                            ('pretrain_img_size', pretrain_img_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        out_indices = tuple(out_indices)
        if not out_indices or len(set(out_indices)) != len(out_indices) or any(
                isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < depth
                for i in out_indices):
            raise ValueError(f'out_indices must be distinct block indices in [0, {depth}), '
                             f'got {out_indices!r}')
        out_indices = tuple(sorted(out_indices))
        if with_fpn and len(out_indices) != 4:
            raise ValueError(f'with_fpn=True needs 4 out_indices, got {out_indices!r}')
        if not 0 <= drop_path_rate < 1:
            raise ValueError(f'drop_path_rate must be in [0, 1), got {drop_path_rate!r}')
        check_fdam_options(attn_inv, freq_scale, [embed_dims])

        self.patch_size = patch_size
        self.embed_dims = embed_dims
        self.out_indices = out_indices
        self.with_fpn = with_fpn
        self.with_cp = with_cp
        self.pos_grid = (pretrain_img_size // patch_size,) * 2

        self.patch_embed = _PatchEmbed(in_channels, embed_dims, patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.pos_grid[0] * self.pos_grid[1],
                                                  embed_dims))
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList([
            FDAMBlock(embed_dims, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                      drop=drop_rate, attn_drop=attn_drop_rate, drop_path=dpr[i],
                      layer_scale_init=layer_scale_init, attn_inv=attn_inv,
                      freq_scale=freq_scale, norm_eps=norm_eps) for i in range(depth)])
        if with_fpn:
            for name, module in build_release_fpn(embed_dims, fpn_norm_cfg).items():
                self.add_module(name, module)

    def init_weights(self):
        """Default init, then (with ``init_cfg=dict(type='Pretrained', checkpoint=...,
        prefix=None)``) the checkpoint loaded by name, ``strict=False``.

        Default: ``pos_embed`` and Linear weights trunc-normal (std 0.02, zero bias; FreqScale's
        routing MLPs keep their own init), LayerNorms 1 / 0; convs keep PyTorch's init.
        Pretrained: any container (``state_dict`` / ``model`` / bare); keys under ``backbone.``
        (a segmentor checkpoint, e.g. the release's ADE20K model) are taken from there; the
        classifier (``head``, ``norm``, ``fc_norm``) and ``cls_token`` of an ImageNet DeiT-III
        checkpoint are dropped; a ``pos_embed`` of another grid (or with a class-token slot) is
        resized bicubically. Missing / unexpected keys are logged.
        """
        trunc_normal_(self.pos_embed, std=.02)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear) and '.freq_scale_' not in f'.{name}':
                trunc_normal_(module.weight, std=.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            if cfg is not None:
                super().init_weights()
            return
        logger = MMLogger.get_current_instance()
        checkpoint = CheckpointLoader.load_checkpoint(cfg['checkpoint'], map_location='cpu',
                                                      logger=logger)
        self.load_pretrained_state_dict(extract_state_dict(checkpoint), cfg.get('prefix'),
                                        logger)
        self._is_init = True

    def load_pretrained_state_dict(self, state_dict, prefix: Optional[str] = None,
                                   logger=None) -> dict:
        """Load a DeiT-III (ImageNet) or release segmentor state dict by name (see
        :meth:`init_weights`); returns the ``missing`` / ``unexpected`` keys."""
        if prefix:
            state_dict = strip_prefix(state_dict, prefix)
        elif any(k.startswith('backbone.') for k in state_dict):
            state_dict = strip_prefix(state_dict, 'backbone.')
        state_dict = OrderedDict((k, v) for k, v in state_dict.items()
                                 if k != 'cls_token' and k.split('.')[0] not in CLASSIFIER_NAMES)
        pos = state_dict.get('pos_embed')
        if pos is not None and pos.shape != self.pos_embed.shape:
            tokens = pos.shape[1]
            side = math.isqrt(tokens)
            if side * side != tokens:  # a class-token slot in front
                pos, side = pos[:, 1:], math.isqrt(tokens - 1)
            state_dict['pos_embed'] = resize_pos_embed(pos, (side, side), self.pos_grid)
        return load_state_dict_with_report(self, state_dict, 'DeiT3FDAM', logger)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x, hw_shape = self.patch_embed(x)
        x = self.pos_drop(x + resize_pos_embed(self.pos_embed, self.pos_grid, hw_shape))
        batch = x.shape[0]
        outs = []
        for i, block in enumerate(self.blocks):
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(block, x, hw_shape, use_reentrant=False)
            else:
                x = block(x, hw_shape)
            if i in self.out_indices:
                outs.append(x.transpose(1, 2).reshape(batch, self.embed_dims, *hw_shape))
        if self.with_fpn:
            return _apply_fpn(self, outs)
        return tuple(outs)


@MODELS.register_module()
class DeiT3FDAMNeck(BaseModule):
    """The release neck as an mmseg neck: ``fpn1`` (4x up), ``fpn2`` (2x up), ``fpn3`` (identity),
    ``fpn4`` (max-pool 2x) on four same-size maps ``(B, C, h, w)``.

    Args:
        embed_dims (int): C.
        norm_cfg (dict): norm between the two transposed convs of ``fpn1``.
    """

    def __init__(self, embed_dims: int = 768, norm_cfg: dict = dict(type='BN'), init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        for name, module in build_release_fpn(embed_dims, norm_cfg).items():
            self.add_module(name, module)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        return _apply_fpn(self, inputs)
