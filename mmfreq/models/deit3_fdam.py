"""DeiT-III + FDAM for semantic segmentation: the backbone and the neck of the FDAM release's
ADE20K UPerNet model (FDAM, Chen et al., ICCV 2025; layout and decisions in docs/fdam.md).

The authors trained one model with code: DeiT-III-B + FDAM, UPerNet, ADE20K, 52.6 mIoU. Its
checkpoint holds ``backbone.*`` (:class:`DeiT3FDAM`), ``neck.*`` (:class:`DeiT3FDAMNeck`),
``decode_head.*`` (mmseg ``UPerHead``) and ``auxiliary_head.*`` (mmseg ``FCNHead``). Parameter
names and shapes here are the release's, so that checkpoint loads by name with ``strict=True``::

    backbone.patch_embed.proj.{weight,bias}   Conv2d(3, C, 16, stride 16)
    backbone.pos_embed                        (1, (img_size/16)**2, C): the 32x32 grid of a
                                              512 px training crop, no class-token slot
    backbone.blocks.{i}.norm1 / attn / norm2 / mlp.fc1 / mlp.fc2 / gamma_1 / gamma_2 /
                        freq_scale_1 / freq_scale_2
                                              FDAMBlock (mmfreq.layers): AttInv attention (qkv
                                              bias), GELU MLP, layer scale, group FreqScale
    neck.fpn1.0, neck.fpn1.1, neck.fpn1.3     ConvTranspose2d(C, C, 2, 2), SyncBN, (GELU),
                                              ConvTranspose2d(C, C, 2, 2): stride 4
    neck.fpn2.0                               ConvTranspose2d(C, C, 2, 2): stride 8
    neck.fpn3 / neck.fpn4                     identity (stride 16) / max-pool 2x (stride 32)

Backbone forward: ``x = patch_embed(img) + resize(pos_embed)`` (the stored grid resized
bicubically, ``align_corners=False``, to the image's patch grid, so any input size works), the
blocks (``a = attn(norm1(x)); a = FreqScale1(a) + a; x = x + drop_path(gamma_1 * a)``, the same
for the MLP; the same drop-path rate in every block), and the tokens after blocks ``out_indices``
(2, 5, 8, 11) as maps ``(B, C, H/16, W/16)``. There is no class token and no final norm.
"""
import math
from collections import OrderedDict
from numbers import Real
from typing import Optional, Sequence, Tuple, Union

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

__all__ = ['DeiT3FDAM', 'DeiT3FDAMNeck', 'resize_pos_embed', 'pos_embed_grid']

#: The release's FreqScale: group form, n=4 bases of C/16 channels, 14x14 size, routing MLP
#: hidden width C/16.
RELEASE_FREQ_SCALE = dict(mode='group', num_filters=4, groups=16, size=14, reweight_ratio=0.0625)


def resize_pos_embed(pos_embed: torch.Tensor, src_hw: Tuple[int, int],
                     dst_hw: Tuple[int, int]) -> torch.Tensor:
    """Bicubic (``align_corners=False``) resize of ``(1, h*w, C)`` position embeddings from grid
    ``src_hw`` to ``dst_hw``, computed in float32; returned unchanged when the grids match."""
    if tuple(src_hw) == tuple(dst_hw):
        return pos_embed
    channels = pos_embed.shape[-1]
    grid = pos_embed.reshape(1, *src_hw, channels).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=tuple(dst_hw), mode='bicubic', align_corners=False)
    return grid.flatten(2).transpose(1, 2).to(pos_embed.dtype)


def pos_embed_grid(num_tokens: int) -> Tuple[int, bool]:
    """Side of the square grid of a stored ``pos_embed`` with ``num_tokens`` entries, and whether
    its first entry is a class-token slot (DeiT-III: 196 = 14x14, none; a ViT-style 197: one).

    The release's rule: the first entry is dropped only when ``num_tokens`` is not a square.
    """
    side = math.isqrt(num_tokens)
    if side * side == num_tokens:
        return side, False
    side = math.isqrt(num_tokens - 1)
    if num_tokens > 1 and side * side == num_tokens - 1:
        return side, True
    raise ValueError(f'pos_embed has {num_tokens} tokens: neither a square grid nor a square grid '
                     f'plus one class-token slot')


def _pair(value, name: str) -> Tuple[int, int]:
    pair = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1
                             for v in pair):
        raise ValueError(f'{name} must be a positive int or a pair of them, got {value!r}')
    return pair


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
        img_size (int | tuple): training crop; sets the stored ``pos_embed`` grid
            (``img_size // patch_size``). 512 in the release.
        patch_size (int): 16.
        in_channels (int): 3.
        embed_dims (int): C; 768 for DeiT-III-B.
        depth (int): number of blocks; 12.
        num_heads (int): 12.
        mlp_ratio (float): 4.
        qkv_bias (bool): bias of ``qkv``; True in the released ADE20K model.
        attn_drop_rate (float): attention dropout; 0.
        drop_path_rate (float): stochastic depth, the same rate in every block (the release's
            rule, not a linear ramp); 0.15.
        layer_scale_init (float | None): init of ``gamma_1`` / ``gamma_2``; 1e-4.
        attn_inv (bool): AttInv attention (FDAM); True. False gives plain attention.
        freq_scale (dict | None): FreqScale options; the release's group form by default, None
            for none. ``attn_inv=False, freq_scale=None`` is the DeiT-III baseline.
        out_indices (sequence of int): blocks whose outputs are returned; (2, 5, 8, 11).
        norm_eps (float): LayerNorm epsilon; 1e-6.
        with_cp (bool): gradient checkpointing of the blocks.
        init_cfg (dict | None): ``dict(type='Pretrained', checkpoint=PATH)`` loads a DeiT-III
            ImageNet checkpoint or a segmentor checkpoint by name (:meth:`init_weights`).

    Shapes: input ``(B, in_channels, H, W)``; output a tuple of ``len(out_indices)`` maps
    ``(B, C, H // patch_size, W // patch_size)``.
    """

    def __init__(self, img_size: Union[int, Sequence[int]] = 512, patch_size: int = 16,
                 in_channels: int = 3, embed_dims: int = 768, depth: int = 12,
                 num_heads: int = 12, mlp_ratio: float = 4., qkv_bias: bool = True,
                 attn_drop_rate: float = 0., drop_path_rate: float = 0.15,
                 layer_scale_init: Optional[float] = 1e-4, attn_inv: bool = True,
                 freq_scale: Optional[dict] = RELEASE_FREQ_SCALE,
                 out_indices: Sequence[int] = (2, 5, 8, 11), norm_eps: float = 1e-6,
                 with_cp: bool = False, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        for name, value in (('patch_size', patch_size), ('in_channels', in_channels),
                            ('embed_dims', embed_dims), ('depth', depth),
                            ('num_heads', num_heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        img_hw = _pair(img_size, 'img_size')
        if any(side < patch_size for side in img_hw):
            raise ValueError(f'img_size {img_size!r} is smaller than patch_size {patch_size}')
        out_indices = tuple(out_indices)
        if not out_indices or len(set(out_indices)) != len(out_indices) or any(
                isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < depth
                for i in out_indices):
            raise ValueError(f'out_indices must be distinct block indices in [0, {depth}), '
                             f'got {out_indices!r}')
        for name, rate in (('drop_path_rate', drop_path_rate),
                           ('attn_drop_rate', attn_drop_rate)):
            if isinstance(rate, bool) or not isinstance(rate, Real) or not 0 <= rate < 1:
                raise ValueError(f'{name} must be a number in [0, 1), got {rate!r}')
        check_fdam_options(attn_inv, freq_scale, [embed_dims])

        self.patch_size = patch_size
        self.embed_dims = embed_dims
        self.out_indices = tuple(sorted(out_indices))
        self.with_cp = with_cp
        self.pos_grid = (img_hw[0] // patch_size, img_hw[1] // patch_size)

        self.patch_embed = _PatchEmbed(in_channels, embed_dims, patch_size)
        self.pos_embed = nn.Parameter(
            torch.zeros(1, self.pos_grid[0] * self.pos_grid[1], embed_dims))
        self.blocks = nn.ModuleList([
            FDAMBlock(embed_dims, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                      attn_drop=attn_drop_rate, drop_path=float(drop_path_rate),
                      layer_scale_init=layer_scale_init, attn_inv=attn_inv,
                      freq_scale=freq_scale, norm_eps=norm_eps) for _ in range(depth)])

    def init_weights(self):
        """Initialise, then (with ``init_cfg=dict(type='Pretrained', checkpoint=...)``) load a
        checkpoint by name (:meth:`load_pretrained_state_dict`).

        DeiT-III parameters (``pos_embed``, ``qkv``, ``proj``, ``mlp``): trunc-normal std 0.02,
        zero biases, LayerNorms 1 / 0 (DeiT-III's init; a pre-trained checkpoint overwrites them).
        FDAM parameters, which no ImageNet checkpoint holds, start as in the release: the AttInv
        and FreqScale routing Linears with PyTorch's default init, gammas 1e-5, StarReLU 1 / 0,
        frequency bases ~ N(0, 1e-5) (docs/fdam.md, "Initialisation").
        """
        trunc_normal_(self.pos_embed, std=.02)
        for block in self.blocks:
            for linear in (block.attn.qkv, block.attn.proj, block.mlp.fc1, block.mlp.fc2):
                trunc_normal_(linear.weight, std=.02)
                if linear.bias is not None:
                    nn.init.zeros_(linear.bias)
            for norm in (block.norm1, block.norm2):
                nn.init.ones_(norm.weight)
                nn.init.zeros_(norm.bias)
            for freq_scale in (block.freq_scale_1, block.freq_scale_2):
                if freq_scale is not None and hasattr(freq_scale, 'reweight'):
                    freq_scale.reweight.fc1.reset_parameters()
                    freq_scale.reweight.fc2.reset_parameters()
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
        """Load a DeiT-III ImageNet state dict (facebookresearch layout) or a segmentor state dict
        (``backbone.*`` keys, e.g. the release's ADE20K model) by name, ``strict=False``.

        ``prefix`` (or ``backbone.`` when present) is stripped. A ``pos_embed`` of another grid is
        resized bicubically to this model's: DeiT-III's (1, 196, C) from 14x14; a ViT-style
        (1, 1 + h*w, C) first loses its class-token slot (:func:`pos_embed_grid`). Keys this model
        does not have (``cls_token``, the classifier ``norm`` / ``head``) are reported as
        unexpected and not used; FDAM parameters absent from an ImageNet checkpoint are reported
        missing and keep their init. Returns ``dict(missing=[...], unexpected=[...])`` (also
        logged as warnings).
        """
        if prefix:
            state_dict = strip_prefix(state_dict, prefix)
        elif any(k.startswith('backbone.') for k in state_dict):
            state_dict = strip_prefix(state_dict, 'backbone.')
        state_dict = OrderedDict(state_dict)
        pos = state_dict.get('pos_embed')
        if pos is not None and pos.shape != self.pos_embed.shape:
            if pos.dim() != 3 or pos.shape[0] != 1 or pos.shape[2] != self.embed_dims:
                raise ValueError(f'checkpoint pos_embed has shape {tuple(pos.shape)}; expected '
                                 f'(1, tokens, {self.embed_dims})')
            side, has_cls_slot = pos_embed_grid(pos.shape[1])
            if has_cls_slot:
                pos = pos[:, 1:]
            state_dict['pos_embed'] = resize_pos_embed(pos, (side, side), self.pos_grid)
        return load_state_dict_with_report(self, state_dict, type(self).__name__, logger)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x, hw_shape = self.patch_embed(x)
        x = x + resize_pos_embed(self.pos_embed, self.pos_grid, hw_shape)
        batch = x.shape[0]
        outs = []
        for i, block in enumerate(self.blocks):
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(block, x, hw_shape, use_reentrant=False)
            else:
                x = block(x, hw_shape)
            if i in self.out_indices:
                outs.append(x.transpose(1, 2).reshape(batch, self.embed_dims, *hw_shape))
        return tuple(outs)


@MODELS.register_module()
class DeiT3FDAMNeck(BaseModule):
    """The release's neck (``SimpleMultiLevelNeck``): four same-size maps ``(B, C, h, w)`` from a
    plain ViT become strides 4, 8, 16, 32 relative to the image (patch 16).

    ``fpn1``: ConvTranspose2d(C, C, 2, 2), norm, GELU, ConvTranspose2d(C, C, 2, 2) (4x up);
    ``fpn2``: ConvTranspose2d(C, C, 2, 2) (2x up); ``fpn3``: identity; ``fpn4``: max-pool 2x.
    Layers keep PyTorch's default init, as in the release.

    Args:
        in_channels (int): C; 768 for DeiT-III-B.
        norm_cfg (dict): norm of ``fpn1.1``; SyncBN in the release.

    Shapes: 4 inputs ``(B, C, h, w)`` -> ``(B, C, 4h, 4w), (B, C, 2h, 2w), (B, C, h, w),
    (B, C, h//2, w//2)``.
    """

    def __init__(self, in_channels: int = 768,
                 norm_cfg: dict = dict(type='SyncBN', requires_grad=True),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f'in_channels must be a positive int, got {in_channels!r}')
        self.in_channels = in_channels
        self.fpn1 = nn.Sequential(
            nn.ConvTranspose2d(in_channels, in_channels, kernel_size=2, stride=2),
            build_norm_layer(norm_cfg, in_channels)[1],
            nn.GELU(),
            nn.ConvTranspose2d(in_channels, in_channels, kernel_size=2, stride=2))
        self.fpn2 = nn.Sequential(
            nn.ConvTranspose2d(in_channels, in_channels, kernel_size=2, stride=2))
        self.fpn3 = nn.Identity()
        self.fpn4 = nn.MaxPool2d(kernel_size=2, stride=2)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        if len(inputs) != 4:
            raise ValueError(f'DeiT3FDAMNeck takes 4 feature maps (backbone out_indices of '
                             f'length 4), got {len(inputs)}')
        return (self.fpn1(inputs[0]), self.fpn2(inputs[1]), self.fpn3(inputs[2]),
                self.fpn4(inputs[3]))
