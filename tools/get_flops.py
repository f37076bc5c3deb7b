"""Per-module parameters and FLOPs of any mmseg / mmdet / mmrotate config at a given input size.

    python tools/get_flops.py CONFIG [--shape H W] [--max-depth 3] [--params-only]

FLOPs: ``mmengine.analysis.FlopAnalyzer`` on the model's inference forward (segmentors: backbone,
neck, decode head; detectors: everything incl. RPN and RoI heads) for one random image of
``H x W`` (default: the papers' sizes, 512x2048 for mmseg, 800x1333 for mmdet, 1024x1024 for
mmrotate). One multiply-add counts as one FLOP; FFTs and element-wise operators count 0 and are
listed at the end. See ``mmfreq/analysis/complexity.py``.
"""
import argparse

from mmengine.config import DictAction

from mmfreq.analysis.complexity import (DEFAULT_INPUT_HW, build_model,
                                        complexity_breakdown, format_count, load_config,
                                        task_of)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file (or package::path)')
    parser.add_argument('--shape', nargs=2, type=int, metavar=('H', 'W'),
                        help='input height and width (default: the paper size of the task)')
    parser.add_argument('--max-depth', type=int, default=3, help='module depth of the table')
    parser.add_argument('--params-only', action='store_true', help='no FLOPs (fast)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides')
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    task = task_of(cfg)
    hw = None if args.params_only else tuple(args.shape or DEFAULT_INPUT_HW[task])
    model = build_model(cfg, args.device)
    info = complexity_breakdown(model, task, hw, args.max_depth)
    print(info['table'])
    print()
    print(f'config: {args.config}')
    print(f'params: {format_count(info["params"], "M", 3)} ({info["params"]:,})')
    if hw is not None:
        print(f'input:  1x3x{hw[0]}x{hw[1]}')
        print(f'FLOPs:  {format_count(info["flops"], "G", 3)} ({info["flops"]:,})')
        if info['uncounted_ops']:
            ops = ', '.join(f'{k} x{v}' for k, v in sorted(info['uncounted_ops'].items()))
            print(f'not counted (no FLOP handle): {ops}')
    return info


if __name__ == '__main__':
    main()
