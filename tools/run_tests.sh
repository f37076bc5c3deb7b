#!/usr/bin/env bash
# Set up .venv (tools/setup_env.sh, a no-op when already done) and run the test suite.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -k fdconv`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
exec .venv/bin/python -m pytest tests "$@"
