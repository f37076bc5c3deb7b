"""Makes the top-level packages named in ``MMFREQ_TEST_HIDE`` (comma-separated) look uninstalled:
``importlib.util.find_spec`` returns None and ``import`` raises ModuleNotFoundError, as on a machine
without them. Put this folder on PYTHONPATH; subprocesses inherit it. For tests only."""
import os
import sys
from importlib.machinery import PathFinder

HIDDEN = frozenset(filter(None, os.environ.get('MMFREQ_TEST_HIDE', '').split(',')))


class HidingPathFinder(PathFinder):
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname.partition('.')[0] in HIDDEN:
            return None
        return super().find_spec(fullname, path, target)


sys.meta_path[:] = [HidingPathFinder if finder is PathFinder else finder
                    for finder in sys.meta_path]
