"""Parameter and FLOP counting for any mmseg / mmdet / mmrotate / mmyolo / mmpretrain config,
around ``mmengine.analysis``.

* :func:`load_config` reads a config file path or a ``package::path`` config of an installed mm
  package (``mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py``).
* :func:`build_model` builds ``cfg.model`` in the config's scope, without loading any pretrained
  weights, with SyncBN turned into BN, in eval mode.
* :func:`count_parameters` — all parameters and those of the backbone.
* :func:`flop_analyzer` — an ``mmengine.analysis.FlopAnalyzer`` of the model's inference forward
  (``mode='tensor'``: segmentors run backbone, neck and decode head, the auxiliary head is
  train-only; a decode head whose forward needs the data samples (Mask2Former, MaskFormer) and
  detectors, which run the whole network including the RPN and RoI heads, get one sample whose
  image/pad shape is the input size) on a random ``(1, 3, H, W)`` input. A two-stage mmdet detector
  gets the RPN's full number of proposals (``test_cfg.rpn.max_per_img``, as a trained RPN gives):
  the RPN head runs, and the RoI head gets that many fixed boxes instead of what NMS keeps of
  an untrained RPN's output, which depends on the random weights (an untrained dynamic-conv
  backbone in eval mode can give a handful of proposals, or none). One fused multiply-add
  counts as one FLOP (mmengine's convention). Besides mmengine's default operator handles,
  ``aten::scaled_dot_product_attention`` is counted as its two matrix products
  (``N*M*(d + d_v)`` per batch and head), so attention written with the fused kernel counts like
  attention written with ``matmul``, and ``aten::baddbmm`` (``nn.MultiheadAttention`` with a mask,
  e.g. Mask2Former's masked attention) as its batched product. Operators without a handle (FFTs,
  element-wise ops, softmax) count 0 and are listed by :attr:`ComplexityResult.uncounted_ops`.
* :func:`model_complexity` — both, with an optional JSON cache: FLOPs at 512x2048 take tens of
  seconds per model on a CPU. The cache key covers the resolved config, the input size, the
  library versions and the source code of every mmfreq module the model is made of, so editing a
  model invalidates its entries.
"""
import copy
import hashlib
import importlib
import inspect
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from functools import partial
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

__all__ = ['resolve_config_path', 'load_config', 'task_of', 'build_model', 'count_parameters',
           'flop_analyzer', 'ComplexityResult', 'model_complexity', 'sdpa_flop_jit',
           'baddbmm_flop_jit',
           'format_count', 'complexity_breakdown', 'DEFAULT_INPUT_HW']

PACKAGES = dict(mmdet='mmdet', mmseg='mmseg', mmrotate='mmrotate', mmpretrain='mmpretrain',
                mmyolo='mmyolo')
TASKS = ('mmseg', 'mmdet', 'mmrotate', 'mmyolo', 'mmpretrain')  # mmyolo's count as mmdet's
CACHE_VERSION = 2  # 2: two-stage detectors at a fixed number of proposals
# the papers' input sizes (H, W): ADE20K 512x2048 (SegFormer: 512x512), COCO 1333x800, DOTA 1024;
# mmyolo: the real-time detectors' 640x640; mmpretrain: ImageNet's 224x224
DEFAULT_INPUT_HW = dict(mmseg=(512, 2048), mmdet=(800, 1333), mmrotate=(1024, 1024),
                        mmyolo=(640, 640), mmpretrain=(224, 224))


def resolve_config_path(config: str) -> str:
    """Absolute path of a config file or of a ``package::relative/path.py`` config.

    Raises FileNotFoundError when it does not exist."""
    if '::' in config:
        package, rel = config.split('::', 1)
        if package not in PACKAGES:
            raise FileNotFoundError(f'unknown config package {package!r} in {config!r}')
        module = importlib.import_module(PACKAGES[package])
        path = osp.join(osp.dirname(module.__file__), '.mim', 'configs', rel)
    else:
        path = osp.abspath(config)
    if not osp.isfile(path):
        raise FileNotFoundError(f'config not found: {config}')
    return path


def load_config(config: str, cfg_options: Optional[dict] = None):
    """``mmengine.Config`` of a config path or ``package::path`` (``cfg_options`` merged in)."""
    from mmengine.config import Config
    cfg = Config.fromfile(resolve_config_path(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def task_of(cfg) -> str:
    """The config's ``default_scope``, one of :data:`TASKS`."""
    scope = cfg.get('default_scope')
    if scope not in TASKS:
        raise ValueError(f'unsupported default_scope {scope!r} (expected one of {TASKS})')
    return scope


def build_model(cfg, device: str = 'cpu') -> nn.Module:
    """Build ``cfg.model`` (no pretrained weights loaded, SyncBN -> BN, eval mode)."""
    import mmfreq  # noqa: F401  (registers mmfreq's modules)
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, DefaultScope
    if task_of(cfg) == 'mmrotate':
        import mmrotate.models  # noqa: F401  (registers mmrotate's modules)
    model_cfg = copy.deepcopy(cfg.model)
    if model_cfg.get('pretrained'):  # loads nothing here (mmseg warns that it is deprecated)
        model_cfg.pretrained = None
    # a scope for this build only: switching the process-wide one logs a warning per config
    with DefaultScope.overwrite_default_scope(task_of(cfg)):
        model = MODELS.build(model_cfg)
    return revert_sync_batchnorm(model).to(device).eval()


def count_parameters(model: nn.Module) -> Dict[str, int]:
    """``dict(total=..., backbone=...)`` parameter counts (``backbone`` 0 when there is none)."""
    total = sum(p.numel() for p in model.parameters())
    backbone = getattr(model, 'backbone', None)
    return dict(total=total,
                backbone=sum(p.numel() for p in backbone.parameters()) if backbone else 0)


def sdpa_flop_jit(inputs, outputs) -> int:
    """FLOPs of ``aten::scaled_dot_product_attention``: ``Q K^T`` and ``A V``."""
    from mmengine.analysis.jit_handles import get_shape
    q, k, v = (get_shape(inputs[i]) for i in range(3))
    lead = 1
    for size in q[:-1]:
        lead *= size
    return lead * k[-2] * (q[-1] + v[-1])


def baddbmm_flop_jit(inputs, outputs) -> int:
    """FLOPs of ``aten::baddbmm(input, batch1, batch2)``: those of ``bmm(batch1, batch2)``."""
    from mmengine.analysis.jit_handles import bmm_flop_jit
    return bmm_flop_jit(inputs[1:3], outputs)


def _sample_meta(hw: Tuple[int, int]) -> dict:
    return dict(img_shape=tuple(hw), ori_shape=tuple(hw), pad_shape=tuple(hw),
                batch_input_shape=tuple(hw))


def _detection_samples(hw: Tuple[int, int]):
    from mmdet.structures import DetDataSample
    return [DetDataSample(metainfo=dict(_sample_meta(hw), scale_factor=(1.0, 1.0)))]


def _segmentation_samples(hw: Tuple[int, int]):
    from mmseg.structures import SegDataSample
    return [SegDataSample(metainfo=_sample_meta(hw))]


def _head_needs_samples(model: nn.Module) -> bool:
    """Whether the segmentor's decode head forward takes the data samples (mmseg's
    ``mode='tensor'`` forward calls it without them)."""
    head = getattr(model, 'decode_head', None)
    return head is not None and \
        'batch_data_samples' in inspect.signature(head.forward).parameters


def _segmentor_tensor_forward(model: nn.Module, samples, inputs: torch.Tensor):
    """mmseg's ``mode='tensor'`` forward (backbone, neck, decode head), with the samples."""
    return model.decode_head.forward(model.extract_feat(inputs), samples)


def _two_stage_with_rpn(model: nn.Module, task: str) -> bool:
    if task != 'mmdet':
        return False  # mmrotate's RPNs propose rotated boxes
    from mmdet.models.detectors import TwoStageDetector
    return isinstance(model, TwoStageDetector) and model.with_rpn


def _fixed_proposals(num: int, hw: Tuple[int, int], device) -> torch.Tensor:
    """``num`` boxes ``(x1, y1, x2, y2)`` inside an ``hw`` image, the same on every call."""
    generator = torch.Generator().manual_seed(0)
    height, width = hw
    centre = torch.rand(num, 2, generator=generator) * torch.tensor([width, height])
    size = 16 + torch.rand(num, 2, generator=generator) * 240
    boxes = torch.cat([centre - size / 2, centre + size / 2], dim=1)
    limit = torch.tensor([width, height, width, height], dtype=boxes.dtype)
    return torch.minimum(boxes.clamp(min=0), limit).to(device)


def _two_stage_tensor_forward(model: nn.Module, samples, proposals: torch.Tensor,
                              inputs: torch.Tensor):
    """mmdet's ``mode='tensor'`` forward of a two-stage detector with ``proposals`` as the RPN's
    result (the RPN head's convs run and count; its NMS counts 0 anyway)."""
    from mmengine.structures import InstanceData
    x = model.extract_feat(inputs)
    rpn_outs = model.rpn_head(x)
    roi_outs = model.roi_head.forward(x, [InstanceData(bboxes=proposals)], samples)
    return rpn_outs, roi_outs


def flop_analyzer(model: nn.Module, task: str, hw: Tuple[int, int]):
    """A ``FlopAnalyzer`` of ``model``'s inference forward on a random ``(1, 3, *hw)`` input (module
    docstring). Tracing happens lazily, on the first query of the analyzer; query it inside
    ``torch.no_grad()`` and before restoring ``model.forward`` (``del model.forward``)."""
    from mmengine.analysis import FlopAnalyzer
    device = next(model.parameters()).device
    inputs = torch.randn(1, 3, *hw, device=device)
    if task == 'mmseg' and _head_needs_samples(model):
        model.forward = partial(_segmentor_tensor_forward, model, _segmentation_samples(hw))
    elif _two_stage_with_rpn(model, task):
        proposals = _fixed_proposals(model.rpn_head.test_cfg.max_per_img, hw, device)
        model.forward = partial(_two_stage_tensor_forward, model, _detection_samples(hw),
                                proposals)
    else:
        samples = None if task in ('mmseg', 'mmpretrain') else _detection_samples(hw)
        model.forward = partial(type(model).forward.__get__(model), data_samples=samples,
                                mode='tensor')
    analyzer = FlopAnalyzer(model, (inputs,))
    analyzer.set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_jit)
    analyzer.set_op_handle('aten::baddbmm', baddbmm_flop_jit)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    return analyzer


@dataclass
class ComplexityResult:
    """Parameters (total / backbone) and FLOPs (total / backbone; None when not computed)."""
    params: int
    backbone_params: int
    flops: Optional[int] = None
    backbone_flops: Optional[int] = None
    input_hw: Optional[Tuple[int, int]] = None
    uncounted_ops: Dict[str, int] = field(default_factory=dict)
    cached: bool = False


def _source_digest(model: nn.Module) -> str:
    """Digest of the source files of the mmfreq classes ``model`` is made of."""
    files = set()
    for module in model.modules():
        for cls in type(module).__mro__:
            if cls.__module__.startswith('mmfreq'):
                try:
                    files.add(inspect.getsourcefile(cls))
                except TypeError:
                    pass
    digest = hashlib.sha256()
    for path in sorted(f for f in files if f):
        with open(path, 'rb') as f:
            digest.update(path.encode() + b'\0' + f.read())
    return digest.hexdigest()


def _cache_key(cfg, model: nn.Module, hw: Tuple[int, int]) -> str:
    import mmengine
    versions = {'torch': torch.__version__, 'mmengine': mmengine.__version__}
    for name in TASKS:
        try:
            versions[name] = importlib.import_module(name).__version__
        except ImportError:
            pass
    text = json.dumps(cfg.to_dict().get('model'), sort_keys=True, default=str)
    payload = json.dumps(dict(v=CACHE_VERSION, model=text, hw=list(hw), versions=versions,
                              source=_source_digest(model)), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _read_cache(path: Optional[str]) -> dict:
    if not path or not osp.isfile(path):
        return {}
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _write_cache(path: str, key: str, entry: dict) -> None:
    cache = _read_cache(path)  # re-read: another process may have added entries
    cache[key] = entry
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
        json.dump(cache, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def model_complexity(config, hw: Optional[Sequence[int]] = None, params_only: bool = False,
                     cache_file: Optional[str] = None, device: str = 'cpu',
                     cfg_options: Optional[dict] = None) -> ComplexityResult:
    """Parameters and (unless ``params_only``) FLOPs of a config at input ``hw = (H, W)``.

    Args:
        config: a config path, ``package::path``, or an ``mmengine.Config``.
        hw: input height and width for the FLOPs.
        params_only: skip the FLOPs.
        cache_file: JSON file caching FLOP counts (module docstring); None: no cache.
        device: where to build and trace the model.
        cfg_options: merged into a config loaded from a path.
    """
    cfg = config if hasattr(config, 'to_dict') else load_config(config, cfg_options)
    model = build_model(cfg, device)
    params = count_parameters(model)
    result = ComplexityResult(params=params['total'], backbone_params=params['backbone'])
    if params_only:
        return result
    if hw is None:
        raise ValueError('hw is needed for FLOPs')
    hw = (int(hw[0]), int(hw[1]))
    result.input_hw = hw
    key = _cache_key(cfg, model, hw) if cache_file else None
    entry = _read_cache(cache_file).get(key) if key else None
    if entry is None:
        task = task_of(cfg)
        with torch.no_grad():
            analyzer = flop_analyzer(model, task, hw)
            try:
                total = analyzer.total()
                backbone = analyzer.total('backbone') if hasattr(model, 'backbone') else 0
                uncounted = dict(analyzer.unsupported_ops())
            finally:
                del model.forward
        entry = dict(flops=int(total), backbone_flops=int(backbone), uncounted_ops=uncounted)
        if key:
            _write_cache(cache_file, key, entry)
    else:
        result.cached = True
    result.flops = entry['flops']
    result.backbone_flops = entry['backbone_flops']
    result.uncounted_ops = dict(entry['uncounted_ops'])
    return result


def format_count(value: Optional[float], unit: str = 'M', digits: int = 2,
                 sign: bool = False) -> str:
    """``52.09M`` / ``+0.06M`` / ``359.5G`` style formatting (``unit`` in K, M, G, T)."""
    if value is None:
        return '—'
    scale = dict(K=1e3, M=1e6, G=1e9, T=1e12)[unit]
    return f'{value / scale:{"+" if sign else ""}.{digits}f}{unit}'



def complexity_breakdown(model: nn.Module, task: str, hw: Optional[Sequence[int]],
                         max_depth: int = 3) -> dict:
    """Per-module parameters and FLOPs of ``model`` at input ``hw`` as a markdown table
    (``mmengine``'s ``complexity_stats_table``), with the totals and the uncounted operators.
    ``hw=None``: parameters only (``parameter_count_table``).

    Returns ``dict(table, params, flops, uncounted_ops)`` (``flops`` None without ``hw``)."""
    from mmengine.analysis import parameter_count_table
    from mmengine.analysis.print_helper import complexity_stats_table
    params = count_parameters(model)['total']
    if hw is None:
        return dict(table=parameter_count_table(model, max_depth=max_depth), params=params,
                    flops=None, uncounted_ops={})
    with torch.no_grad():
        analyzer = flop_analyzer(model, task, (int(hw[0]), int(hw[1])))
        try:
            flops = analyzer.total()
            table = complexity_stats_table(analyzer, max_depth=max_depth,
                                           show_param_shapes=False)
            uncounted = dict(analyzer.unsupported_ops())
        finally:
            del model.forward
    return dict(table=table, params=params, flops=flops, uncounted_ops=uncounted)
