#!/usr/bin/env python
"""Stock train script of the config's codebase (by `default_scope`: mmseg, mmdet, mmrotate, mmyolo).

    python tools/train.py CONFIG [any option of the stock tools/train.py]
"""
import sys

from mmfreq.launch import run_stock_tool

if __name__ == '__main__':
    run_stock_tool('train', sys.argv[1:])
