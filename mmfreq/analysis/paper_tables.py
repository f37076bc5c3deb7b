"""The tables of the FDConv (CVPR 2025) and FDAM (ICCV 2025, supplementary) papers that mmfreq has
configs for, with the paper's values next to ours (``tools/paper_tables.py`` prints them).

Ours: parameter counts and FLOPs computed from our configs (:mod:`mmfreq.analysis.complexity`) at
the paper's input size (512x2048 for ADE20K segmentation except SegFormer at 512x512 and the
640x640 recipes at 640x2560, 1333x800 for COCO, 1024x1024 for DOTA, 1024x2048 for Cityscapes),
metrics read from ``work_dirs/`` evaluation logs (:mod:`mmfreq.analysis.logs`), "not run" when
there are none. A row whose config does not exist (yet) says "no config"; the MaskDINO rows of
FDConv Table 5 have none, as MaskDINO has no OpenMMLab implementation.

Parameter check: the paper rounds its counts (``52.1M``: to 0.1M; ``70M``: to 1M; ``+3.6M``: a
difference to the table's baseline row, to 0.1M; ``43.80(23.5)M``: total and backbone). Our count
agrees when it is within half a unit of the paper's last digit; otherwise the check column says
how it differs. FLOPs are shown, not checked: the papers do not say how they counted, and
mmengine's counter does not count FFTs (FDAM's FreqScale, FDConv's FBM).

FDConv's Tables 1 and 2 also have the rows of the dynamic convolutions it compares with (CondConv,
DY-Conv, DCD, ODConv, KernelWarehouse: ``configs/dynamic_convs/``), next to FDConv's; their params
check counts as the README's "Comparison methods" says (DCD's paper delta includes an ImageNet
classifier a detector lacks, so it differs).
"""
import glob
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

__all__ = ['MetricColumn', 'PaperRow', 'PaperTable', 'PAPER_TABLES', 'RowResult',
           'parse_paper_count', 'check_count', 'resolve_row_config', 'compute_table',
           'table_markdown', 'tables_markdown', 'REPO_ROOT']

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ADE_HW = (512, 2048)
SEGFORMER_HW = (512, 512)
COCO_HW = (800, 1333)
DOTA_HW = (1024, 1024)
CITYSCAPES_HW = (1024, 2048)
ADE640_HW = (640, 2560)  # ADE20K test scale of the 640x640 recipes


@dataclass(frozen=True)
class MetricColumn:
    """A metric column: ``key`` in the evaluation logs (None: not something a log holds),
    multiplied by ``scale`` (mmdet / mmrotate log fractions, the papers percentages)."""
    name: str
    key: Optional[str]
    scale: float = 1.0


@dataclass(frozen=True)
class PaperRow:
    """One row: candidate configs (first existing wins: repository-relative paths or globs, or
    ``package::path``), the paper's values as printed, and the label of the row that ``+`` values
    are relative to."""
    label: str
    configs: Tuple[str, ...]
    params: Optional[str] = None
    flops: Optional[str] = None
    metrics: Dict[str, str] = field(default_factory=dict)
    baseline: Optional[str] = None
    input_hw: Optional[Tuple[int, int]] = None


@dataclass(frozen=True)
class PaperTable:
    key: str
    title: str
    input_hw: Tuple[int, int]
    metric_columns: Tuple[MetricColumn, ...]
    rows: Tuple[PaperRow, ...]
    notes: Tuple[str, ...] = ()


MIOU = MetricColumn('mIoU', 'mIoU')
AP_BOX = MetricColumn('AP box', 'coco/bbox_mAP', 100.0)
AP_MASK = MetricColumn('AP mask', 'coco/segm_mAP', 100.0)
DOTA_MAP = MetricColumn('mAP', 'dota/mAP', 100.0)

_FDAM = 'configs/fdam/'
_FDCONV = 'configs/fdconv/'
_DYNAMIC = 'configs/dynamic_convs/'
_DEIT_S = _FDAM + 'upernet_deit-s16_8xb2-160k_ade20k-512x512.py'
_DEIT_S_ATTINV = _FDAM + 'upernet_deit-s16-table1-attinv_8xb2-160k_ade20k-512x512.py'
_DEIT_S_GROUP = _FDAM + 'upernet_deit-s16-table1-attinv-freqscale-group_8xb2-160k_ade20k-512x512.py'


def _deit_s(name: str) -> str:
    return _FDAM + f'upernet_deit-s16-{name}_8xb2-160k_ade20k-512x512.py'


def _table1_row(label, name, params, miou):
    return PaperRow(label, (_deit_s(name),), params=params, metrics={'mIoU': miou},
                    baseline='DeiT-S')


def _comparison_rows(detector: str, pattern: str, methods) -> Tuple[PaperRow, ...]:
    """FDConv Table 1's rows of the other dynamic convs on ``detector``: (label, config name
    part, paper params, paper metrics) each, config ``configs/dynamic_convs/<pattern>``."""
    return tuple(PaperRow(f'{detector} + {label}', (_DYNAMIC + pattern.format(name),),
                          params=params, metrics=metrics, baseline=detector)
                 for label, name, params, metrics in methods)


PAPER_TABLES: Tuple[PaperTable, ...] = (
    PaperTable(
        'fdconv-table1',
        'FDConv Table 1 — COCO detection and instance segmentation, ResNet-50, 1x',
        COCO_HW, (AP_BOX, AP_MASK),
        (PaperRow('Faster R-CNN', ('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',),
                  params='43.80(23.5)M', flops='207.1G', metrics={'AP box': '37.2'}),
         PaperRow('Faster R-CNN + FDConv', (_FDCONV + 'faster-rcnn_r50-fdconv_fpn_1x_coco.py',),
                  params='+3.6M', flops='+1.8G', metrics={'AP box': '39.4'},
                  baseline='Faster R-CNN'),
         PaperRow('Mask R-CNN', (_FDCONV + 'mask-rcnn_r50_fpn_adamw-1x_coco.py',),
                  params='46.5(23.5)M', flops='260.1G',
                  metrics={'AP box': '39.6', 'AP mask': '36.4'}),
         PaperRow('Mask R-CNN + FDConv', (_FDCONV + 'mask-rcnn_r50-fdconv_fpn_adamw-1x_coco.py',),
                  params='+3.6M', flops='+1.8G', metrics={'AP box': '42.4', 'AP mask': '38.6'},
                  baseline='Mask R-CNN'),
         *_comparison_rows('Faster R-CNN', 'faster-rcnn_r50-{}_fpn_1x_coco.py', (
             ('CondConv (8x)', 'condconv-8x', '+90.0M', {'AP box': '38.1'}),
             ('DY-Conv (4x)', 'dyconv-4x', '+75.3M', {'AP box': '38.3'}),
             ('DCD', 'dcd', '+4.3M', {'AP box': '38.1'}),
             ('ODConv (4x)', 'odconv-4x', '+65.1M', {'AP box': '39.2'}))),
         *_comparison_rows('Mask R-CNN', 'mask-rcnn_r50-{}_coco.py', (
             ('DY-Conv (4x)', 'dyconv-4x_fpn_1x', '+75.3M', {'AP box': '39.6', 'AP mask': '36.6'}),
             ('ODConv (4x)', 'odconv-4x_fpn_1x', '+65.1M', {'AP box': '42.1', 'AP mask': '38.6'}),
             ('KW (1x)', 'kw-1x_fpn_adamw-1x', '+2.5M', {'AP box': '41.8', 'AP mask': '38.4'}),
             ('KW (4x)', 'kw-4x_fpn_adamw-1x', '+76.5M', {'AP box': '42.4', 'AP mask': '38.9'})))),
        ('Paper params are "total(backbone)"; FLOPs at 1333x800.',
         'The comparison rows follow their authors\' recipes (configs/dynamic_convs/README.md); '
         'their "+x" are relative to the plain row of the same detector.')),
    PaperTable(
        'fdconv-table2',
        'FDConv Table 2 — ADE20K semantic segmentation, UPerNet ResNet-50 (single scale)',
        ADE_HW, (MIOU,),
        (PaperRow('UPerNet R50', (_FDCONV + 'upernet_r50_4xb4-160k_ade20k-512x512.py',
                                  'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py')),
         PaperRow('UPerNet R50 + FDConv', (_FDCONV + 'upernet_r50*fdconv*ade20k*.py',
                                           _FDCONV + 'upernet*fdconv*.py'),
                  params='70M', metrics={'mIoU': '43.8'}, baseline='UPerNet R50'),
         PaperRow('UPerNet R50 + ODConv (4x)',
                  (_DYNAMIC + 'upernet_r50-odconv-4x_4xb4-160k_ade20k-512x512.py',),
                  params='131M', baseline='UPerNet R50'),
         PaperRow('UPerNet R50 + KW (4x)',
                  (_DYNAMIC + 'upernet_r50-kw-4x_4xb4-160k_ade20k-512x512.py',),
                  params='141M', baseline='UPerNet R50')),
        ("The paper gives the models' total parameter counts (70M, 131M, 141M) and FDConv's "
         'single-scale mIoU (none for ODConv and KW).',)),
    PaperTable(
        'fdconv-table3', 'FDConv Table 3 — COCO, Mask R-CNN 1x with ConvNeXt-T and Swin-T',
        COCO_HW, (AP_BOX, AP_MASK),
        (PaperRow('Mask R-CNN ConvNeXt-T', (_FDCONV + 'mask-rcnn_convnext-t_fpn_1x_coco.py',)),
         PaperRow('Mask R-CNN ConvNeXt-T + FDConv',
                  (_FDCONV + 'mask-rcnn_convnext-t-fdconv_fpn_1x_coco.py',),
                  metrics={'AP box': '45.2'}, baseline='Mask R-CNN ConvNeXt-T'),
         PaperRow('Mask R-CNN Swin-T', (_FDCONV + 'mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
                                        'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py')),
         PaperRow('Mask R-CNN Swin-T + FDConv',
                  (_FDCONV + 'mask-rcnn_swin-t-p4-w7-fdconv_fpn_1x_coco.py',),
                  metrics={'AP box': '44.5'}, baseline='Mask R-CNN Swin-T')),
        ("Only the FDConv rows' AP box values are known from the paper text.",)),
    PaperTable(
        'fdconv-table4',
        'FDConv Table 4 — Cityscapes semantic segmentation, Mask2Former ResNet-50',
        CITYSCAPES_HW, (MIOU,),
        (PaperRow('Mask2Former R50',
                  ('mmseg::mask2former/mask2former_r50_8xb2-90k_cityscapes-512x1024.py',),
                  metrics={'mIoU': '79.4'}),
         PaperRow('Mask2Former R50 + FDConv',
                  (_FDCONV + 'mask2former_r50-fdconv_8xb2-90k_cityscapes-512x1024.py',),
                  metrics={'mIoU': '80.4'}, baseline='Mask2Former R50')),
        ('The paper gives no parameter counts for Tables 4 and 5. FLOPs at the full 1024x2048 '
         'test image (whole-image inference).',
         "The paper's baseline 79.4 is the Mask2Former paper's figure; mmseg's model zoo reports "
         '80.44 for its stock config (the baseline row).')),
    PaperTable(
        'fdconv-table5', 'FDConv Table 5 — ADE20K semantic segmentation, heavy models',
        ADE640_HW, (MIOU,),
        (PaperRow('Mask2Former Swin-B',
                  ('mmseg::mask2former/'
                   'mask2former_swin-b-in22k-384x384-pre_8xb2-160k_ade20k-640x640.py',),
                  metrics={'mIoU': '53.9'}),
         PaperRow('Mask2Former Swin-B + FDConv',
                  (_FDCONV + 'mask2former_swin-b-in22k-384x384-pre-fdconv_8xb2-160k_'
                   'ade20k-640x640.py',),
                  metrics={'mIoU': '54.9'}, baseline='Mask2Former Swin-B'),
         PaperRow('MaskDINO Swin-L', (), metrics={'mIoU': '56.6'}),
         PaperRow('MaskDINO Swin-L + FDConv', (), metrics={'mIoU': '57.2'},
                  baseline='MaskDINO Swin-L')),
        ('FLOPs at 640x2560 (the test scale of the 640x640 recipe).',
         'MaskDINO has no OpenMMLab implementation (neither mmseg nor mmdet ships it), so its '
         'rows have no config.')),
    PaperTable(
        'fdconv-classification', 'FDConv — ImageNet-1k classification, ResNet-50 (mmpretrain)',
        (224, 224), (MetricColumn('top-1', 'accuracy/top1'),),
        (PaperRow('ResNet-50', ('mmpretrain::resnet/resnet50_8xb32_in1k.py',)),
         PaperRow('ResNet-50 + FDConv', ('configs/classification/resnet50-fdconv_8xb32_in1k.py',),
                  params='+3.6M', baseline='ResNet-50')),
        ('The paper gives "+3.6M" for FDConv on ResNet-50 and no ImageNet table in its text; '
         'these rows need mmpretrain and a torchvision built for the installed torch '
         '(configs/classification/README.md).',)),
    PaperTable(
        'fdam-table1', 'FDAM supplementary Table 1 — ablation on ADE20K, UPerNet DeiT-S',
        ADE_HW, (MIOU,),
        (PaperRow('DeiT-S', (_DEIT_S,), params='52.1M', metrics={'mIoU': '42.9'}),
         _table1_row('+ AttInv', 'table1-attinv', '+0.1M', '43.5'),
         _table1_row('+ AttInv + FreqScale (static)', 'table1-attinv-freqscale-static', '+1.2M',
                     '43.8'),
         _table1_row('+ AttInv + FreqScale (dynamic)', 'table1-attinv-freqscale-dynamic', '+4.4M',
                     '44.1'),
         _table1_row('+ AttInv + FreqScale (dynamic + group)', 'table1-attinv-freqscale-group',
                     '+0.5M', '44.3')),
        ('Our "+x" are relative to the DeiT-S row (the paper does not say which row its '
         'increments refer to).',)),
    PaperTable(
        'fdam-table2', 'FDAM supplementary Table 2 — number of frequency weights n (g = 16)',
        ADE_HW, (MIOU,),
        tuple(PaperRow(f'n = {n}', (_DEIT_S_GROUP if n == 4 else _deit_s(f'table2-fdam-n{n}'),),
                       metrics={'mIoU': miou})
              for n, miou in ((2, '44.0'), (4, '44.3'), (8, '44.1'), (16, '43.8')))),
    PaperTable(
        'fdam-table3', 'FDAM supplementary Table 3 — groups g (n = 4)',
        ADE_HW, (MIOU,),
        tuple(PaperRow(f'g = {g}', (_DEIT_S_GROUP if g == 16 else _deit_s(f'table3-fdam-g{g}'),),
                       metrics={'mIoU': miou})
              for g, miou in ((4, '44.0'), (8, '44.1'), (16, '44.3'), (32, '44.0')))),
    PaperTable(
        'fdam-table4', 'FDAM supplementary Table 4 — inference speed, 512x2048, batch 1',
        ADE_HW, (MetricColumn('FPS', None), MetricColumn('Time', None)),
        (PaperRow('DeiT-S-MLN', (_DEIT_S,), metrics={'FPS': '8.3', 'Time': '121.1ms'}),
         PaperRow('+ AttInv', (_DEIT_S_ATTINV,), metrics={'FPS': '8.1', 'Time': '124.2ms'},
                  baseline='DeiT-S-MLN'),
         PaperRow('+ AttInv + FreqScale (FDAM)', (_DEIT_S_GROUP,),
                  metrics={'FPS': '7.36', 'Time': '135.8ms'}, baseline='DeiT-S-MLN')),
        ('The paper times DeiT-S-MLN on an RTX 3090; our rows are the Table 1 configs (no MLN '
         'neck) and this tool does not time them (GPU timing: see benchmarks/).',)),
    PaperTable(
        'fdam-main-ade20k', 'FDAM main results — ADE20K semantic segmentation',
        ADE_HW, (MIOU,),
        (PaperRow('UPerNet DeiT-S', (_DEIT_S,), metrics={'mIoU': '42.9'}),
         PaperRow('UPerNet DeiT-S + FDAM', (_DEIT_S_GROUP,), metrics={'mIoU': '44.3'},
                  baseline='UPerNet DeiT-S'),
         PaperRow('UPerNet DeiT-III-B', (_FDAM + 'upernet_deit3-b16_8xb2-160k_ade20k-512x512.py',),
                  metrics={'mIoU': '51.8'}),
         PaperRow('UPerNet DeiT-III-B + FDAM',
                  (_FDAM + 'upernet_deit3-b16-fdam_8xb2-160k_ade20k-512x512.py',),
                  metrics={'mIoU': '52.6'}, baseline='UPerNet DeiT-III-B'),
         PaperRow('SegFormer-B0', (_FDAM + 'segformer_mit-b0_8xb2-160k_ade20k-512x512.py',),
                  metrics={'mIoU': '37.4'}, input_hw=SEGFORMER_HW),
         PaperRow('SegFormer-B0 + FDAM',
                  (_FDAM + 'segformer_mit-b0-fdam_8xb2-160k_ade20k-512x512.py',),
                  metrics={'mIoU': '39.8'}, baseline='SegFormer-B0', input_hw=SEGFORMER_HW)),
        ('FLOPs at 512x2048, SegFormer at 512x512. The supplementary gives no parameter counts '
         'for these rows.',)),
    PaperTable(
        'fdam-main-dota', 'FDAM main results — DOTA-v1.0 oriented detection, Oriented R-CNN',
        DOTA_HW, (DOTA_MAP,),
        (PaperRow('LSKNet-S', (_FDAM + 'oriented-rcnn-le90_lsknet-s_fpn_1x_dota.py',),
                  metrics={'mAP': '77.49'}),
         PaperRow('LSKNet-S + FDAM', (_FDAM + 'oriented-rcnn-le90_lsknet-s-fdam_fpn_1x_dota.py',),
                  metrics={'mAP': '78.61'}, baseline='LSKNet-S')),
        ('FLOPs at 1024x1024.',)),
)

_COUNT = re.compile(r'^\s*(\+)?\s*(\d+(?:\.\d+)?)\s*(?:\(\s*(\d+(?:\.\d+)?)\s*\))?\s*([KMGT])?\s*$')
_UNITS = dict(K=1e3, M=1e6, G=1e9, T=1e12)


@dataclass(frozen=True)
class PaperCount:
    """A parsed paper count: value and tolerance (half a unit of the last printed digit) in
    absolute units, ``delta`` for ``+x`` values, and an optional parenthesised backbone count."""
    value: float
    tolerance: float
    delta: bool
    backbone: Optional[float] = None
    backbone_tolerance: Optional[float] = None
    text: str = ''


def _decimals(text: str) -> int:
    return len(text.split('.')[1]) if '.' in text else 0


def parse_paper_count(text: str, default_unit: str = 'M') -> PaperCount:
    """Parse ``'52.1M'``, ``'+0.1M'``, ``'43.80(23.5)M'``, ``'70M'``, ``'260.1'`` (unit
    ``default_unit``)."""
    match = _COUNT.match(text)
    if not match:
        raise ValueError(f'cannot parse paper count {text!r}')
    plus, value, backbone, unit = match.groups()
    scale = _UNITS[unit or default_unit]
    backbone_value = backbone_tol = None
    if backbone is not None:
        backbone_value = float(backbone) * scale
        backbone_tol = 0.5 * 10 ** -_decimals(backbone) * scale
    return PaperCount(value=float(value) * scale, tolerance=0.5 * 10 ** -_decimals(value) * scale,
                      delta=bool(plus), backbone=backbone_value, backbone_tolerance=backbone_tol,
                      text=text.strip())


def check_count(paper: PaperCount, ours: float, ours_backbone: Optional[float] = None,
                unit: str = 'M') -> Optional[str]:
    """None when ``ours`` agrees with the paper within its rounding, else a short explanation."""
    scale = _UNITS[unit]
    problems = []
    slack = 1e-6 * scale
    if abs(ours - paper.value) > paper.tolerance + slack:
        what = 'increase' if paper.delta else 'total'
        problems.append(f'{what}: paper {paper.text or paper.value}, '
                        f'ours {ours / scale:{"+" if paper.delta else ""}.3f}{unit}')
    if paper.backbone is not None and ours_backbone is not None \
            and abs(ours_backbone - paper.backbone) > paper.backbone_tolerance + slack:
        problems.append(f'backbone: paper {paper.backbone / scale:g}{unit}, '
                        f'ours {ours_backbone / scale:.3f}{unit}')
    return '; '.join(problems) or None


def resolve_row_config(row: PaperRow, repo_root: str = REPO_ROOT) -> Optional[str]:
    """The first existing candidate config of ``row`` (a path, or ``package::path``), or None."""
    from .complexity import resolve_config_path
    for candidate in row.configs:
        if '::' in candidate:
            try:
                resolve_config_path(candidate)
                return candidate
            except (FileNotFoundError, ImportError):
                continue
        matches = sorted(glob.glob(osp.join(repo_root, candidate)))
        if matches:
            return matches[0]
    return None


@dataclass
class RowResult:
    row: PaperRow
    config: Optional[str]
    params: Optional[int] = None
    backbone_params: Optional[int] = None
    flops: Optional[int] = None
    error: Optional[str] = None
    metrics: Dict[str, Optional[float]] = field(default_factory=dict)
    metric_run: Optional[str] = None


def compute_table(table: PaperTable, complexity: Callable, params_only: bool = False,
                  work_dirs: str = 'work_dirs', repo_root: str = REPO_ROOT) -> List[RowResult]:
    """Results of every row of ``table``; ``complexity(config, hw, params_only)`` returns a
    :class:`~mmfreq.analysis.complexity.ComplexityResult` (callers memoise / cache it)."""
    from .logs import latest_metrics
    results = []
    for row in table.rows:
        config = resolve_row_config(row, repo_root)
        result = RowResult(row=row, config=config)
        if config is not None:
            try:
                info = complexity(config, row.input_hw or table.input_hw, params_only)
                result.params, result.backbone_params = info.params, info.backbone_params
                result.flops = info.flops
            except Exception as exc:  # noqa: BLE001 - a broken config must not stop the tables
                result.error = f'{type(exc).__name__}: {str(exc).splitlines()[0][:120]}'
            for column in table.metric_columns:
                if column.key is None:
                    continue
                entry = latest_metrics(config, [column.key], work_dirs)
                if entry is not None:
                    result.metrics[column.name] = float(entry[column.key]) * column.scale
                    result.metric_run = entry.get('_source')
        results.append(result)
    return results


def _fmt(value: Optional[float], unit: str, digits: int, sign: bool = False) -> str:
    if value is None:
        return '—'
    return f'{value / _UNITS[unit]:{"+" if sign else ""}.{digits}f}{unit}'


def _metric_digits(paper: Optional[str]) -> int:
    if not paper:
        return 1
    number = re.match(r'[\d.]+', paper)
    return _decimals(number.group(0)) if number else 1


def _row_cells(table: PaperTable, result: RowResult, by_label: Dict[str, RowResult],
               params_only: bool) -> List[str]:
    row = result.row
    config = f'`{osp.relpath(result.config, REPO_ROOT)}`' if result.config and \
        '::' not in result.config else (f'`{result.config}`' if result.config else 'no config')
    cells = [row.label, config, row.params or '—']
    base = by_label.get(row.baseline) if row.baseline else None
    paper_params = parse_paper_count(row.params) if row.params else None
    check = '—'
    if result.config is None:
        cells += ['no config', row.flops or '—', 'no config']
        check = 'no config'
    elif result.error:
        cells += ['build failed', row.flops or '—', '—']
        check = f'build failed ({result.error})'
    else:
        total = _fmt(result.params, 'M', 2)
        if result.backbone_params:
            total = f'{result.params / 1e6:.2f}({result.backbone_params / 1e6:.2f})M'
        have_base = base is not None and base.params is not None and base.error is None
        if have_base:
            total += f' ({_fmt(result.params - base.params, "M", 2, sign=True)})'
        cells.append(total)
        flops = 'not computed' if params_only else _fmt(result.flops, 'G', 1)
        if not params_only and have_base and base.flops is not None and result.flops is not None:
            flops += f' ({_fmt(result.flops - base.flops, "G", 1, sign=True)})'
        cells += [row.flops or '—', flops]
        if paper_params is not None:
            if paper_params.delta:
                if not have_base:
                    check = 'no baseline to compare'
                else:
                    problem = check_count(paper_params, result.params - base.params)
                    check = 'ok' if problem is None else f'**differs** ({problem})'
            else:
                problem = check_count(paper_params, result.params,
                                      result.backbone_params or None)
                check = 'ok' if problem is None else f'**differs** ({problem})'
    for column in table.metric_columns:
        paper = row.metrics.get(column.name)
        cells.append(paper or '—')
        if column.key is None:
            cells.append('not measured')
        elif result.config is None:
            cells.append('no config')
        elif column.name in result.metrics:
            cells.append(f'{result.metrics[column.name]:.{_metric_digits(paper)}f}')
        else:
            cells.append('not run')
    cells.append(check)
    return cells


def table_markdown(table: PaperTable, results: Sequence[RowResult],
                   params_only: bool = False) -> str:
    """One table as markdown (a ``###`` heading, the table, its notes)."""
    header = ['Model', 'Config', 'Params (paper)', 'Params (ours)', 'FLOPs (paper)',
              'FLOPs (ours)']
    for column in table.metric_columns:
        header += [f'{column.name} (paper)', f'{column.name} (ours)']
    header.append('Params check')
    by_label = {r.row.label: r for r in results}
    hw = f'{table.input_hw[0]}x{table.input_hw[1]}'
    lines = [f'### {table.title}', '',
             f'Input for FLOPs: {hw} (HxW) unless a note says otherwise.', '',
             '| ' + ' | '.join(header) + ' |',
             '|' + '|'.join(['---'] * len(header)) + '|']
    for result in results:
        cells = [c.replace('|', '\\|') for c in _row_cells(table, result, by_label, params_only)]
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines.append('')
    for note in table.notes:
        lines.append(f'- {note}')
    sources = sorted({osp.relpath(r.metric_run, REPO_ROOT) for r in results if r.metric_run})
    for source in sources:
        lines.append(f'- metrics from `{source}`')
    if table.notes or sources:
        lines.append('')
    return '\n'.join(lines)


def tables_markdown(sections: Sequence[Tuple[PaperTable, Sequence[RowResult]]],
                    params_only: bool = False) -> str:
    """All tables, with a short preamble."""
    parts = ['# FDConv / FDAM paper tables: paper vs mmfreq', '',
             'Params and FLOPs computed from our configs (FLOPs: mmengine FlopAnalyzer, one '
             'multiply-add = one FLOP, FFTs not counted); metrics from `work_dirs/` evaluation '
             'logs. "+x" values are relative to the row named as baseline. Params check: within '
             'the paper\'s rounding.', '']
    for table, results in sections:
        parts.append(table_markdown(table, results, params_only))
    return '\n'.join(parts)

