"""Shared plumbing of the ``tools/analysis`` scripts: command-line options, loading a model from a
config and checkpoint, turning image files into the model's normalised input, saving figures.

Everything runs on the CPU by default; plotting uses matplotlib's non-interactive Agg backend.
"""
import argparse
import os
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .complexity import build_model, load_config
from .hooks import BlockRecord, BlockRecorder

__all__ = ['AnalysisModel', 'add_common_args', 'models_from_args', 'load_model', 'load_images',
           'save_figure', 'pyplot', 'format_table', 'backbone_of', 'select_names', 'slug',
           'record_blocks', 'map_grid', 'overlay']

DEFAULT_OUT_DIR = 'work_dirs/analysis'


def pyplot():
    """matplotlib.pyplot with the Agg backend."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


@dataclass
class AnalysisModel:
    label: str
    config: str
    checkpoint: Optional[str]
    cfg: object
    model: nn.Module


def load_model(config: str, checkpoint: Optional[str] = None, device: str = 'cpu',
               cfg_options: Optional[dict] = None, label: Optional[str] = None) -> AnalysisModel:
    """Build the config's model (SyncBN -> BN, eval mode) and load ``checkpoint`` (by name, keys
    that do not match are reported by mmengine)."""
    cfg = load_config(config, cfg_options)
    model = build_model(cfg, device)
    if checkpoint:
        from mmengine.runner import load_checkpoint
        load_checkpoint(model, checkpoint, map_location=device, strict=False)
    label = label or osp.splitext(osp.basename(config))[0]
    return AnalysisModel(label=label, config=config, checkpoint=checkpoint, cfg=cfg, model=model)


def backbone_of(model: nn.Module) -> nn.Module:
    """``model.backbone`` when there is one, else the model."""
    return getattr(model, 'backbone', model)


def load_images(paths: Sequence[str], size: Tuple[int, int], model: nn.Module
                ) -> Tuple[torch.Tensor, List[np.ndarray]]:
    """Read images (BGR files), resize to ``size = (H, W)`` and normalise them with the model's
    ``data_preprocessor``. Returns the batch ``(B, 3, H', W')`` (``H', W'`` may be padded by the
    preprocessor) and the resized RGB images as uint8 arrays for display."""
    import mmcv
    height, width = size
    tensors, shown = [], []
    for path in paths:
        image = mmcv.imread(path)
        if image is None:
            raise FileNotFoundError(f'cannot read image {path}')
        image = mmcv.imresize(image, (width, height))
        shown.append(image[..., ::-1].copy())
        tensors.append(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1))
    preprocessor = getattr(model, 'data_preprocessor', None)
    if preprocessor is None:
        batch = torch.stack(tensors).float() / 255.0
    else:
        batch = preprocessor(dict(inputs=tensors, data_samples=None), False)['inputs']
    return batch, shown


def add_common_args(parser: argparse.ArgumentParser, images: bool = True,
                    baseline: bool = True) -> argparse.ArgumentParser:
    """``config checkpoint [images...]`` plus ``--size --out-dir --device --label --cfg-options``
    and (``baseline``) ``--baseline-config/--baseline-checkpoint/--baseline-label``."""
    parser.add_argument('config', help='model config file (or package::path)')
    parser.add_argument('checkpoint', help='checkpoint file ("none" for random weights)')
    if images:
        parser.add_argument('images', nargs='+', help='image file(s)')
        parser.add_argument('--size', nargs=2, type=int, default=[512, 512], metavar=('H', 'W'),
                            help='resize images to H W (default: 512 512)')
    parser.add_argument('--out-dir', default=DEFAULT_OUT_DIR, help='where PNGs go')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--label', help='name of the model in plots (default: config name)')
    if baseline:
        parser.add_argument('--baseline-config', help='a second model to compare with')
        parser.add_argument('--baseline-checkpoint', help='its checkpoint ("none": random)')
        parser.add_argument('--baseline-label', help='its name in plots')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='config overrides, e.g. model.backbone.img_size=512')
    return parser


def _cfg_options(items: Sequence[str]) -> Optional[dict]:
    if not items:
        return None
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o', *items]).o


def _checkpoint(value: Optional[str]) -> Optional[str]:
    return None if value in (None, '', 'none', 'None') else value


def models_from_args(args) -> List[AnalysisModel]:
    """The baseline model (if given) first, then the analysed model."""
    options = _cfg_options(args.cfg_options)
    models = []
    if getattr(args, 'baseline_config', None):
        models.append(load_model(args.baseline_config, _checkpoint(args.baseline_checkpoint),
                                 args.device, options, args.baseline_label))
    models.append(load_model(args.config, _checkpoint(args.checkpoint), args.device, options,
                             args.label))
    if len(models) == 2 and models[0].label == models[1].label:
        models[0].label += ' (baseline)'
    return models


def slug(text: str) -> str:
    """``text`` reduced to a file-name friendly ``[A-Za-z0-9._-]`` string."""
    import re
    return re.sub(r'[^A-Za-z0-9._-]+', '_', text).strip('_') or 'model'


def save_figure(fig, out_dir: str, name: str) -> str:
    """Save ``fig`` as ``out_dir/name.png``, close it, print and return the path."""
    os.makedirs(out_dir, exist_ok=True)
    path = osp.join(out_dir, f'{name}.png')
    fig.savefig(path, dpi=110, bbox_inches='tight')
    pyplot().close(fig)
    print(f'wrote {path}')
    return path


def format_table(header: Sequence[str], rows: Sequence[Sequence], digits: int = 4) -> str:
    """A plain-text (markdown) table; floats with ``digits`` decimals."""
    def cell(value):
        if isinstance(value, float):
            return f'{value:.{digits}f}'
        return str(value)
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '|'.join(['---'] * len(header)) + '|']
    lines += ['| ' + ' | '.join(cell(v) for v in row) + ' |' for row in rows]
    return '\n'.join(lines)


def select_names(available: Sequence[str], wanted: Optional[Sequence[str]]) -> List[str]:
    """``wanted`` entries are names or integer positions (negative from the end) in
    ``available``; None selects everything."""
    if not wanted:
        return list(available)
    chosen = []
    for item in wanted:
        if item in available:
            chosen.append(item)
            continue
        try:
            chosen.append(available[int(item)])
        except (ValueError, IndexError):
            raise ValueError(f'{item!r} is neither a name nor a position in {list(available)}')
    return chosen


@torch.no_grad()
def record_blocks(model: nn.Module, batch: torch.Tensor,
                  names: Optional[Sequence[str]] = None) -> List[BlockRecord]:
    """Run the backbone of ``model`` on ``batch`` and return the :class:`BlockRecord` of every
    block (or of the named ones)."""
    backbone = backbone_of(model)
    device = next(backbone.parameters()).device
    with BlockRecorder(backbone, tuple(batch.shape[-2:]), names) as recorder:
        backbone(batch.to(device))
    return recorder.records


def map_grid(maps: Sequence[Tuple[str, np.ndarray]], title: str = '', cmap: str = 'jet',
             vmin: Optional[float] = None, vmax: Optional[float] = None, ncols: int = 6,
             cell: float = 2.2, colorbar: bool = True):
    """A figure showing 2D arrays side by side (``(title, array)`` pairs), one shared color scale
    (``vmin``/``vmax`` default to the overall min/max)."""
    plt = pyplot()
    arrays = [np.asarray(m, dtype=np.float64) for _, m in maps]
    if vmin is None:
        vmin = float(min(np.nanmin(a) for a in arrays))
    if vmax is None:
        vmax = float(max(np.nanmax(a) for a in arrays))
    ncols = max(1, min(ncols, len(maps)))
    nrows = (len(maps) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell * ncols + (0.8 if colorbar else 0),
                                                    cell * nrows + 0.4), squeeze=False)
    image = None
    for ax in axes.flat:
        ax.axis('off')
    for ax, (name, _), array in zip(axes.flat, maps, arrays):
        image = ax.imshow(array, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(name, fontsize=7)
    if colorbar and image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """``heat`` (any 2D size) resized to the RGB ``image`` and normalised to [0, 1], for a
    translucent overlay (nearest-neighbour resize; display only)."""
    heat = np.asarray(heat, dtype=np.float64)
    rows = (np.arange(image.shape[0]) * heat.shape[0] // image.shape[0])
    cols = (np.arange(image.shape[1]) * heat.shape[1] // image.shape[1])
    big = heat[rows][:, cols]
    span = big.max() - big.min()
    return (big - big.min()) / span if span > 0 else np.zeros_like(big)
