#!/usr/bin/env python
"""Convert an mmcv 1.x / mmdet 2.x checkpoint (e.g. the FDConv authors' released Faster / Mask
R-CNN models) to an mmengine / mmdet 3.x checkpoint that the stock tools load.

    python tools/convert_release_checkpoint.py SRC DST [--config CONFIG] [--rename REGEX=REPL ...]
        [--drop REGEX ...] [--keep-half] [--force]

What changes is described in ``mmfreq/models/checkpoint_conversion.py``. With ``--config`` the
converted weights are checked against the model built from that config (missing / unexpected
keys, shape mismatches); on any difference nothing is written (exit status 2) unless ``--force``.

SRC is read with torch's ``weights_only=True``; a file that needs more (old pickled objects) is
refused, and loads only with torch's opt-in ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``
(docs/checkpoints.md).
"""
import argparse
import sys

import torch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='mmcv 1.x / mmdet 2.x checkpoint')
    parser.add_argument('dst', help='output checkpoint (mmengine layout)')
    parser.add_argument('--config', help='mmfreq / mmdet config to check the converted keys '
                        'and shapes against')
    parser.add_argument('--rename', action='append', default=[], metavar='REGEX=REPL',
                        help='extra key rename (re.sub), applied after the built-in ones')
    parser.add_argument('--drop', action='append', default=[], metavar='REGEX',
                        help='drop keys matching this regex')
    parser.add_argument('--keep-half', action='store_true',
                        help='keep fp16 / bf16 tensors (default: cast to float32)')
    parser.add_argument('--force', action='store_true',
                        help='write the output even if it does not match --config')
    return parser.parse_args(argv)


def build_model(config: str):
    """The model of an OpenMMLab config, on CPU, without loading pretrained weights."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return MODELS.build(cfg.model)


def main(argv=None) -> int:
    args = parse_args(argv)
    import mmfreq  # noqa: F401  (checkpoint allow-list, registrations)
    from mmfreq.checkpoint import UntrustedCheckpointError
    from mmfreq.checkpoint import load as load_checkpoint
    from mmfreq.models.checkpoint_conversion import (MMDET2_TO_MMDET3_KEY_RENAMES,
                                                     compare_with_model,
                                                     convert_release_checkpoint)
    renames = list(MMDET2_TO_MMDET3_KEY_RENAMES)
    for item in args.rename:
        if '=' not in item:
            raise ValueError(f'--rename must be REGEX=REPL, got {item!r}')
        renames.append(tuple(item.split('=', 1)))
    try:
        checkpoint = load_checkpoint(args.src, map_location='cpu')
    except UntrustedCheckpointError as error:
        print(error, file=sys.stderr)
        return 1
    converted = convert_release_checkpoint(checkpoint, source=args.src, renames=renames,
                                           drop=args.drop, to_float32=not args.keep_half)
    state_dict = converted['state_dict']
    print(f'{len(state_dict)} tensors; dataset_meta: '
          f'{"yes" if "dataset_meta" in converted["meta"] else "no"}')
    if args.config:
        report = compare_with_model(state_dict, build_model(args.config))
        for kind, items in report.items():
            print(f'{kind}: {len(items)}')
            for item in items[:20]:
                print(f'    {item}')
            if len(items) > 20:
                print(f'    ... and {len(items) - 20} more')
        if any(report.values()) and not args.force:
            print(f'the converted weights do not match {args.config}; nothing written '
                  '(--force writes anyway)', file=sys.stderr)
            return 2
        print(f'matches {args.config}')
    torch.save(converted, args.dst)
    print(f'saved {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
