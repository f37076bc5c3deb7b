#!/usr/bin/env python
"""Convert a plain checkpoint to the FDConv layout (FDConv, CVPR 2025).

    python tools/convert_to_fdconv.py --model-type {resnet,vit,swin,convnext} IN OUT
        [--param-ratio 1] [--use-fdconv-if-c-gt 16] [--use-fdconv-if-k-in 1 3]

Every weight of a layer that becomes FDConv/FDLinear (resnet: bottleneck ``layer*.*.conv1/2/3``;
vit/swin: the MLP ``fc1``/``fc2``; convnext: ``pwconv1``/``pwconv2``; the key patterns are listed in
``mmfreq/layers/fdconv_conversion.py``), and passes the fallback rule for the given options, is
replaced by its ``dft_weight``; everything else is copied. IN may be a bare state dict (e.g.
torchvision's ``resnet50-*.pth``) or hold it under ``state_dict`` / ``model``; OUT keeps that
container. KSM/FBM parameters are new: load OUT non-strictly (mmengine's ``Pretrained`` init does).

IN is read with torch's ``weights_only=True``; a file that needs more is refused, and loads only
with torch's opt-in ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (docs/checkpoints.md).
"""
import argparse
import sys

import torch


def parse_args(argv=None):
    from mmfreq.layers.fdconv_conversion import MODEL_TYPES
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model-type', required=True, choices=MODEL_TYPES)
    parser.add_argument('src', metavar='IN', help='plain checkpoint')
    parser.add_argument('dst', metavar='OUT', help='output checkpoint (FDConv layout)')
    parser.add_argument('--param-ratio', type=int, default=1)
    parser.add_argument('--use-fdconv-if-c-gt', type=int, default=16)
    parser.add_argument('--use-fdconv-if-k-in', type=int, nargs='+', default=[1, 3])
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmfreq.checkpoint import UntrustedCheckpointError
    from mmfreq.checkpoint import load as load_checkpoint
    from mmfreq.layers.fdconv_conversion import convert_checkpoint_to_fdconv
    try:
        checkpoint = load_checkpoint(args.src, map_location='cpu')
    except UntrustedCheckpointError as error:
        print(error, file=sys.stderr)
        return 1
    converted, names = convert_checkpoint_to_fdconv(
        checkpoint, args.model_type, param_ratio=args.param_ratio,
        use_fdconv_if_c_gt=args.use_fdconv_if_c_gt, use_fdconv_if_k_in=args.use_fdconv_if_k_in)
    if not names:
        print(f'no {args.model_type} layer of {args.src} becomes FDConv: nothing written '
              '(wrong --model-type?)', file=sys.stderr)
        return 2
    torch.save(converted, args.dst)
    print(f'{len(names)} layers converted to dft_weight ({names[0]} ... {names[-1]}); '
          f'saved {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
