"""``--data-root DIR`` of ``tools/train.py`` / ``tools/test.py``: move every dataset of a config to
another folder.

Overriding ``data_root`` alone is not enough: a stock config fixes other paths from it when it is
read (COCO's evaluators take ``ann_file=data_root + 'annotations/instances_val2017.json'``), so
they still point at the old folder. :func:`rewrite_data_root` finds the one root the config's
datasets read and replaces it at the start of every path of the config, datasets, evaluators and
anything else that was built from it.
"""
import os

__all__ = ['config_data_roots', 'rewrite_data_root']


def _walk(node, visit):
    """Call ``visit(container, key, value)`` for every entry of nested dicts and lists."""
    items = node.items() if hasattr(node, 'keys') else enumerate(node) \
        if isinstance(node, list) else ()
    for key, value in list(items):
        visit(node, key, value)
        if hasattr(value, 'keys') or isinstance(value, list):
            _walk(value, visit)


def config_data_roots(cfg) -> list:
    """The distinct ``data_root`` values of the config's datasets, in order of appearance."""
    roots = []

    def visit(container, key, value):
        if key == 'data_root' and isinstance(value, str) and value not in roots:
            roots.append(value)
    _walk(cfg, visit)
    return roots


def _prefix(root: str) -> str:
    return root.rstrip('/') + '/'


def rewrite_data_root(cfg, new_root: str) -> int:
    """Replace the datasets' root by ``new_root`` in every path of ``cfg`` (in place); returns
    how many values changed. A config whose datasets read several roots is refused: which one
    DIR replaces would be a guess."""
    roots = config_data_roots(cfg)
    if not roots:
        raise ValueError('--data-root: the config has no dataset with a data_root to replace')
    if len({_prefix(r) for r in roots}) > 1:
        raise ValueError(f'--data-root: the datasets of this config read {len(roots)} different '
                         f'roots ({", ".join(roots)}); set each with --cfg-options instead')
    old, new = _prefix(roots[0]), _prefix(os.path.expanduser(new_root))
    changed = 0

    def visit(container, key, value):
        nonlocal changed
        if not isinstance(value, str):
            return
        if value.rstrip('/') == old.rstrip('/'):
            container[key] = new if value.endswith('/') else new.rstrip('/')
            changed += 1
        elif value.startswith(old):
            container[key] = new + value[len(old):]
            changed += 1
    _walk(cfg, visit)
    return changed
