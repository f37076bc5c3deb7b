"""Evaluation results of runs in ``work_dirs/``, as mmengine writes them.

A run of ``tools/train.py`` / ``tools/test.py`` on ``configs/.../NAME.py`` writes to
``work_dirs/NAME/`` by default (or to ``--work-dir``, where mmengine also dumps ``NAME.py``). Each
run makes a ``<timestamp>/`` folder holding:

* ``vis_data/scalars.json``: one JSON object per line; evaluation lines carry the metric keys
  (``mIoU``, ``coco/bbox_mAP``, ``dota/mAP``, ...) and ``step``;
* ``<timestamp>.json``: the metrics of a ``tools/test.py`` run (one JSON object);
* ``<timestamp>.log``: the text log (``Iter(val)`` / ``Iter(test)`` / ``Epoch(val)`` lines with
  ``key: value`` pairs), read when the JSON files are missing.

:func:`find_work_dirs` lists the work dirs of a config; :func:`latest_metrics` returns the most
recent evaluation (by timestamp folder, then line order) containing the requested keys.
"""
import glob
import json
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence

__all__ = ['find_work_dirs', 'evaluations', 'latest_metrics', 'read_metric']

_EVAL_LINE = re.compile(r'(?:Iter|Epoch)\((?:val|test)\)')
_PAIR = re.compile(r'([\w/.]+): (-?[\d.]+(?:e[-+]?\d+)?)')


def find_work_dirs(config: str, root: str = 'work_dirs') -> List[str]:
    """Work dirs under ``root`` of the config named ``config`` (a path or its stem): ``root/STEM``
    and any ``root/*/`` holding the dumped ``STEM.py``."""
    stem = osp.splitext(osp.basename(config))[0]
    found = []
    default = osp.join(root, stem)
    if osp.isdir(default):
        found.append(default)
    for dump in glob.glob(osp.join(root, '*', f'{stem}.py')):
        work_dir = osp.dirname(dump)
        if work_dir not in found:
            found.append(work_dir)
    return found


def _json_lines(path: str) -> List[dict]:
    entries = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        value = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(value, dict):
                        entries.append(value)
    except OSError:
        pass
    return entries


def _log_evaluations(path: str) -> List[dict]:
    entries = []
    try:
        with open(path, errors='replace') as f:
            for line in f:
                if _EVAL_LINE.search(line):
                    pairs = {k: float(v) for k, v in _PAIR.findall(line.split(')', 1)[-1])}
                    if pairs:
                        entries.append(pairs)
    except OSError:
        pass
    return entries


def evaluations(work_dir: str) -> List[dict]:
    """All evaluation results of a work dir, oldest first; each a dict of metric values with
    ``_run`` (the timestamp folder) and ``_source`` (the file) added."""
    results = []
    for run in sorted(d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d))
                      and re.fullmatch(r'\d{8}_\d{6}', d)):
        run_dir = osp.join(work_dir, run)
        found = []
        scalars = osp.join(run_dir, 'vis_data', 'scalars.json')
        test_json = osp.join(run_dir, f'{run}.json')
        for path in (scalars, test_json):
            for entry in _json_lines(path):
                found.append(dict(entry, _run=run, _source=path))
        if not found:
            log = osp.join(run_dir, f'{run}.log')
            found = [dict(e, _run=run, _source=log) for e in _log_evaluations(log)]
        results.extend(found)
    return results


def latest_metrics(config: str, keys: Sequence[str], root: str = 'work_dirs'
                   ) -> Optional[Dict[str, float]]:
    """The most recent evaluation of ``config``'s runs that has all ``keys`` (values as logged),
    with ``_run`` / ``_source``; None when there is none."""
    best = None
    for work_dir in find_work_dirs(config, root):
        for entry in evaluations(work_dir):
            if all(k in entry for k in keys):
                if best is None or entry['_run'] >= best['_run']:
                    best = entry
    return best


def read_metric(config: str, key: str, root: str = 'work_dirs') -> Optional[float]:
    """Latest logged value of one metric of ``config`` (None if never evaluated)."""
    entry = latest_metrics(config, [key], root)
    return None if entry is None else float(entry[key])
