"""Training step time and memory of whole backbones: ResNet-50 with FDConv against ResNet-50, and
DeiT-S with FDAM against DeiT-S.

Pairs, each built through mmseg's registry:

* ``resnet50``: mmseg's ``ResNetV1c`` (depth 50, UPerNet R50's backbone) against mmfreq's
  ``ResNetV1cFDConv`` with ``conv_cfg=dict(type='FDConv', kernel_num=64)`` (``--kernel-num``):
  the bottleneck convs dynamic wherever FDConv's defaults make them so, stem and downsample convs
  plain;
* ``deit-s``: mmseg's ``VisionTransformer`` DeiT-S against ``VisionTransformerFDAM`` with AttInv
  and group FreqScale, as the FDAM Table 1 configs build them
  (configs/fdam/upernet_deit-s16_8xb2-160k_ade20k-512x512.py and
  configs/fdam/upernet_deit-s16-table1-attinv-freqscale-group_8xb2-160k_ade20k-512x512.py).

Per model, in training mode, on a random ``--batch x 3 x --size x --size`` image:

* the latency of one forward in eval mode without autograd (minimum of the repeats), and the
  time of one training step: forward, the sum of all output maps, backward into the
  parameters (the image needs no gradient). The two models of a pair run round-robin (one step of
  each in turn, per repeat) so that background load affects them alike; median and minimum of
  ``--repeats`` after ``--warmup`` untimed rounds, also as multiples of the plain model's;
* memory: on the CPU the bytes autograd saves for backward in one training forward (unique
  storages, parameters included); on CUDA the peak allocated memory of the training step beyond
  what was allocated before it; also as a multiple of the plain model's.

``--builder torch`` builds ResNet-50 in plain torch (benchmarks/_torch_resnet.py, same layout) for
machines without mmseg; ``--amp fp16|bf16`` runs the steps under autocast.
``--resnet-width``, ``--vit-dims``, ``--vit-depth`` and ``--vit-heads`` shrink the models (for a
quick check; the defaults are the real widths).

    python benchmarks/bench_backbone.py                       # CPU (and CUDA when present)
    python benchmarks/bench_backbone.py --device cpu --threads 2 --repeats 3 --models resnet50
"""
import argparse
import contextlib
import importlib.util
import statistics
from typing import Optional

import torch

from _measure import (MEMORY_KIND, machine_line, num_params, round_robin_times,
                      selected_devices, training_memory, training_step)
from _torch_resnet import ResNet50


def _fdconv_factory(kernel_num: int):
    from mmfreq.layers import FDConv

    def conv(in_channels, out_channels, kernel_size, stride=1, padding=0):
        return FDConv(in_channels, out_channels, kernel_size, stride, padding, bias=False,
                      kernel_num=kernel_num)
    return conv

def resnet50_pair(args) -> dict:
    width = dict(base_channels=args.resnet_width, stem_channels=args.resnet_width)
    if args.builder == 'torch':
        return {'plain': ResNet50(**width),
                'FDConv': ResNet50(_fdconv_factory(args.kernel_num), **width)}
    from _backbones import MODELS  # mmseg's registry, with mmfreq's backbones registered
    return {
        'plain': MODELS.build(dict(type='ResNetV1c', depth=50, **width)),
        'FDConv': MODELS.build(dict(type='ResNetV1cFDConv', depth=50, **width,
                                    conv_cfg=dict(type='FDConv', kernel_num=args.kernel_num))),
    }


def vit_out_indices(depth: int) -> tuple:
    """Every quarter of the layers, as (2, 5, 8, 11) for 12 (the configs' neck inputs)."""
    step = depth // 4
    return tuple(range(step - 1, depth, step)) if step else (depth - 1,)


def deit_s_pair(args) -> dict:
    from _backbones import DEIT_S_FDAM, DEIT_S_STOCK, config_backbone
    widths = dict(embed_dims=args.vit_dims, num_layers=args.vit_depth, num_heads=args.vit_heads,
                  out_indices=vit_out_indices(args.vit_depth))
    return {'plain': config_backbone(DEIT_S_STOCK, **widths),
            'FDAM': config_backbone(DEIT_S_FDAM, **widths)}


BUILDERS = {'resnet50': resnet50_pair, 'deit-s': deit_s_pair}
AMP_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}
NAMES = {'resnet50': 'ResNet-50', 'deit-s': 'DeiT-S'}


def _inference(model, img):
    with torch.no_grad():
        model(img)


def measure_pair(models: dict, img: torch.Tensor, repeats: int, warmup: int,
                 amp: Optional[torch.dtype] = None) -> dict:
    autocast = (lambda: torch.autocast(img.device.type, amp)) if amp else contextlib.nullcontext

    def under_autocast(step):
        def run():
            with autocast():
                step()
        return run

    for model in models.values():
        model.eval()
    evals = {name: under_autocast(lambda m=model: _inference(m, img))
             for name, model in models.items()}
    eval_times = round_robin_times(evals, img.device, repeats, warmup=warmup)
    for model in models.values():
        model.train()
    steps = {name: under_autocast(lambda m=model: training_step(m, img))
             for name, model in models.items()}
    times = round_robin_times(steps, img.device, repeats, warmup=warmup)
    return {name: dict(times_ms=[t * 1e3 for t in times[name]],
                       eval_ms=[t * 1e3 for t in eval_times[name]],
                       memory=training_memory(model, steps[name], img),
                       params=num_params(model))
            for name, model in models.items()}


def format_table(rows) -> str:
    lines = ['| device | backbone | input | variant | params (M) | repeats | fwd+bwd median ms '
             '| min ms | median x plain | min x plain | eval min ms | eval min x plain | memory '
             '| MiB | memory x plain |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for device, backbone, shape, results in rows:
        plain = results['plain']
        plain_median, plain_min = statistics.median(plain['times_ms']), min(plain['times_ms'])
        plain_eval = min(plain['eval_ms'])
        for name, result in results.items():
            times = result['times_ms']
            median, fastest = statistics.median(times), min(times)
            fastest_eval = min(result['eval_ms'])
            lines.append(
                f'| {device} | {backbone} | {shape} | {name} | {result["params"] / 1e6:.2f} '
                f'| {len(times)} | {median:.1f} | {fastest:.1f} | {median / plain_median:.2f} '
                f'| {fastest / plain_min:.2f} | {fastest_eval:.1f} '
                f'| {fastest_eval / plain_eval:.2f} | {MEMORY_KIND[device]} '
                f'| {result["memory"] / 2 ** 20:.1f} '
                f'| {result["memory"] / max(plain["memory"], 1):.2f} |')
    return '\n'.join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='all', choices=('cpu', 'cuda', 'all'),
                        help='all = CPU, and CUDA when present')
    parser.add_argument('--models', nargs='+', default=list(BUILDERS), choices=list(BUILDERS))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--size', type=int, default=512, help='input height and width')
    parser.add_argument('--repeats', type=int, default=None,
                        help='timed steps per model (default: 3 on CPU, 20 on CUDA)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed steps per model (default: 1 on CPU, 5 on CUDA)')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--kernel-num', type=int, default=64, help="FDConv's kernel_num")
    parser.add_argument('--resnet-width', type=int, default=64,
                        help='ResNet base and stem channels (64: ResNet-50)')
    parser.add_argument('--vit-dims', type=int, default=384, help='ViT width (384: DeiT-S)')
    parser.add_argument('--vit-depth', type=int, default=12, help='ViT layers (12: DeiT-S)')
    parser.add_argument('--vit-heads', type=int, default=6, help='ViT heads (6: DeiT-S)')
    parser.add_argument('--builder', default=None, choices=('mm', 'torch'),
                        help='mm: through mmseg\'s registry (default where mmseg imports); '
                        'torch: ResNet-50 in plain torch (benchmarks/_torch_resnet.py)')
    parser.add_argument('--amp', default=None, choices=tuple(AMP_DTYPES),
                        help='run the steps under autocast in this dtype')
    args = parser.parse_args(argv)
    if args.builder is None:
        args.builder = 'mm' if importlib.util.find_spec('mmseg') else 'torch'
    if args.builder == 'torch' and 'deit-s' in args.models:
        parser.error('--builder torch builds only resnet50 (--models resnet50)')
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = selected_devices(args.device)

    rows = []
    shape = f'{args.batch}x3x{args.size}x{args.size}'
    for device in devices:
        on_cuda = device.type == 'cuda'
        repeats = args.repeats or (20 if on_cuda else 3)
        warmup = args.warmup if args.warmup is not None else (5 if on_cuda else 1)
        for pair in args.models:
            torch.manual_seed(0)
            models = {name: model.to(device) for name, model in BUILDERS[pair](args).items()}
            img = torch.randn(args.batch, 3, args.size, args.size, device=device)
            rows.append((device.type, NAMES[pair], shape,
                         measure_pair(models, img, repeats, warmup,
                                      AMP_DTYPES.get(args.amp))))
            print(f'done: {device.type} {pair}', flush=True)
            del models

    print()
    print(machine_line())
    print(f'builder {args.builder}, autocast {args.amp or "off"}; ResNet width {args.resnet_width}, FDConv kernel_num={args.kernel_num}; '
          f'ViT {args.vit_dims} dims, {args.vit_depth} layers, {args.vit_heads} heads')
    print()
    print(format_table(rows))


if __name__ == '__main__':
    main()
