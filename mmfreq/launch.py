"""Run the stock train/test scripts of mmseg, mmdet, mmrotate, mmyolo or mmpretrain on an mmfreq
config.

The stock scripts ship in each wheel under ``<package>/.mim/tools/``; the codebase is chosen by
the config's ``default_scope``. Every stock option is passed through unchanged.

Without CUDA the run is adapted so that it works out of the box (with CUDA nothing changes):
distributed runs use gloo (initialised here, before the Runner, whose own init would call
``torch.cuda.set_device``), DDP wraps the model with ``device_ids=None``, ``SyncBN`` becomes
``BN`` and ``AmpOptimWrapper`` becomes a plain fp32 ``OptimWrapper``. One log line says so.

``--data-root DIR`` (ours, taken out before the stock tool sees the options) moves every dataset
and evaluator path of the config to DIR (:mod:`mmfreq.data_root`). A training configuration that
cannot train is refused before the first iteration (:mod:`mmfreq.config_checks`).
"""
import copy
import importlib
import importlib.util
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Optional, Tuple

SCOPES = ('mmseg', 'mmdet', 'mmrotate', 'mmyolo', 'mmpretrain')  # the last two: [yolo], [cls]


def stock_script(scope: str, tool: str) -> Path:
    """Path of ``<scope>/.mim/tools/<tool>.py`` inside the installed wheel."""
    if scope not in SCOPES:
        raise ValueError(f'default_scope must be one of {SCOPES} to pick a stock tool, got {scope!r}')
    package_dir = Path(importlib.import_module(scope).__file__).parent
    script = package_dir / '.mim' / 'tools' / f'{tool}.py'
    if not script.is_file():
        raise FileNotFoundError(f'{scope} has no stock {tool} script at {script}')
    return script


def config_scope(config: str) -> str:
    from mmengine.config import Config
    return Config.fromfile(config).get('default_scope')


def _replace_types(cfg, old: str, new: str) -> int:
    """Replace ``type=old`` by ``type=new`` in every nested dict; returns the count."""
    count = 0
    if hasattr(cfg, 'keys'):  # dict, ConfigDict or Config
        if cfg.get('type') == old:
            cfg['type'] = new
            count += 1
        for value in cfg.values():
            count += _replace_types(value, old, new)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            count += _replace_types(value, old, new)
    return count


def adapt_config_for_cpu(cfg) -> list:
    """Make a config runnable without CUDA, in place. Returns what was changed, as phrases."""
    changes = []
    if _replace_types(cfg, 'SyncBN', 'BN'):
        changes.append('SyncBN -> BN')
    optim_wrapper = cfg.get('optim_wrapper')
    if isinstance(optim_wrapper, dict) and optim_wrapper.get('type') == 'AmpOptimWrapper':
        optim_wrapper['type'] = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            optim_wrapper.pop(key, None)
        changes.append('AMP -> fp32 (AMP needs CUDA)')
    if cfg.get('launcher', 'none') != 'none':
        wrapper = dict(cfg.get('model_wrapper_cfg') or {})
        wrapper.setdefault('type', 'MMDistributedDataParallel')
        wrapper.setdefault('broadcast_buffers', False)
        wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
        wrapper['device_ids'] = None
        cfg['model_wrapper_cfg'] = wrapper
        changes.append('distributed backend gloo, DDP device_ids=None')
    return changes


def _slurm_env() -> None:
    """Rank/world/master variables for a slurm job, as mmengine's slurm launcher derives them."""
    nodes = os.environ['SLURM_NODELIST']
    addr = subprocess.getoutput(f'scontrol show hostname {nodes} | head -n1')
    os.environ.setdefault('MASTER_ADDR', addr)
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')


def init_cpu_distributed(launcher: str) -> None:
    """Initialise a gloo process group for ``launcher`` before the Runner is built."""
    import torch.distributed as dist
    if launcher == 'none' or dist.is_initialized():
        return
    if launcher == 'slurm':
        _slurm_env()
    elif launcher != 'pytorch':
        raise ValueError(f"--launcher {launcher!r} is not supported without CUDA; "
                         "use 'none', 'pytorch' or 'slurm'")
    dist.init_process_group(backend='gloo')


def _world_size() -> int:
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get('WORLD_SIZE', '1'))


def _patch_runner(on_cpu: bool, data_root: Optional[str], training: bool) -> None:
    """Have the Runner, when it is built from the stock tool's config: move the datasets to
    ``data_root``, adapt the run to the CPU, and (``training``) refuse a configuration that
    cannot train."""
    from mmengine.logging import print_log
    from mmengine.runner import Runner

    from .config_checks import pooled_batch_norm_problem
    from .data_root import rewrite_data_root
    original = Runner.from_cfg.__func__
    original = getattr(original, '_mmfreq_original', original)

    def from_cfg(cls, cfg):
        cfg = copy.deepcopy(cfg)
        if data_root is not None:
            count = rewrite_data_root(cfg, data_root)
            print_log(f'mmfreq: --data-root {data_root}: {count} paths of the config moved there',
                      logger='current')
        if on_cpu:
            changes = adapt_config_for_cpu(cfg)
            if changes:
                print_log('mmfreq: no CUDA, running on CPU: ' + '; '.join(changes),
                          logger='current')
        problem = training and pooled_batch_norm_problem(cfg, _world_size())
        if problem:
            raise SystemExit(f'mmfreq: this configuration cannot train: {problem}')
        return original(cls, cfg)

    from_cfg._mmfreq_original = original
    Runner.from_cfg = classmethod(from_cfg)


def _data_root_from_argv(argv) -> Tuple[Optional[str], list]:
    """``--data-root DIR`` (or ``--data-root=DIR``) taken out of ``argv``."""
    rest, root = [], None
    args = iter(argv)
    for arg in args:
        if arg == '--data-root':
            root = next(args, None)
            if root is None:
                raise SystemExit('--data-root needs a folder: --data-root DIR')
        elif arg.startswith('--data-root='):
            root = arg.split('=', 1)[1]
        else:
            rest.append(arg)
    if root is not None and not os.path.isdir(os.path.expanduser(root)):
        raise SystemExit(f'--data-root {root}: no such folder')
    return root, rest


def _launcher_from_argv(argv) -> str:
    for i, arg in enumerate(argv):
        if arg == '--launcher' and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith('--launcher='):
            return arg.split('=', 1)[1]
    return 'none'


def usage(tool: str) -> str:
    checkpoint = 'CHECKPOINT ' if tool == 'test' else ''
    return (f'usage: tools/{tool}.py CONFIG {checkpoint}[--data-root DIR] [options]\n\n'
            f"Runs the stock tools/{tool}.py of the config's codebase (its default_scope: "
            f"{', '.join(SCOPES)})\nwith every option passed through; CONFIG comes first.\n"
            '--data-root DIR: read the dataset from DIR (every dataset and evaluator path of the '
            'config\nthat starts with its data_root is moved there).')


def installed_scopes() -> list:
    return [scope for scope in SCOPES if importlib.util.find_spec(scope) is not None]


def print_help(tool: str) -> None:
    """Our usage line, then the help of the stock ``tool`` of every installed codebase."""
    print(usage(tool))
    for scope in installed_scopes():
        script = stock_script(scope, tool)
        print(f"\n--- options of {scope}'s stock tools/{tool}.py "
              f"(configs with default_scope='{scope}') ---", flush=True)
        sys.argv = [str(script), '--help']
        try:
            runpy.run_path(str(script), run_name='__main__')
        except SystemExit:  # argparse exits after printing the help
            pass
        sys.stdout.flush()


def run_stock_tool(tool: str, argv: list) -> None:
    """Run the stock ``tool`` ('train' or 'test') of the config's codebase with ``argv``."""
    import torch

    import mmfreq  # noqa: F401  (compat fixes and registrations before the stock imports)
    if argv and argv[0] in ('-h', '--help'):
        print_help(tool)
        return
    if not argv or argv[0].startswith('-'):
        got = f'got {argv[0]!r}' if argv else 'got no arguments'
        raise SystemExit(f"{usage(tool)}\n\ntools/{tool}.py: error: the first argument must be "
                         f"the config file, which picks the stock tool; {got} (see --help)")
    data_root, argv = _data_root_from_argv(argv)
    script = stock_script(config_scope(argv[0]), tool)
    on_cpu = not torch.cuda.is_available()
    if on_cpu:
        init_cpu_distributed(_launcher_from_argv(argv))
    _patch_runner(on_cpu, data_root, training=tool == 'train')
    sys.argv = [str(script), *argv]
    runpy.run_path(str(script), run_name='__main__')
    if on_cpu and torch.distributed.is_initialized():
        # Tear gloo down with every rank done; left to the interpreter's exit, a rank can abort
        # ("terminate called without an active exception") while another still uses the group.
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
