#!/usr/bin/env bash
# One command: set up .venv (tools/setup_env.sh) and run the demo (tools/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
exec .venv/bin/python tools/demo.py "$@"
