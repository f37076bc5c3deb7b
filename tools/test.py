#!/usr/bin/env python
"""Stock test script of the config's codebase (by `default_scope`: mmseg, mmdet, mmrotate, mmyolo).

    python tools/test.py CONFIG CHECKPOINT [any option of the stock tools/test.py]
"""
import sys

from mmfreq.launch import run_stock_tool

if __name__ == '__main__':
    run_stock_tool('test', sys.argv[1:])
