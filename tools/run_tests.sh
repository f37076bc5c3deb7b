#!/usr/bin/env bash
# Set up the venv of the stack (tools/setup_env.sh, a no-op when already done) and run its tests.
# MMFREQ_STACK=latest (default): the whole suite in .venv. MMFREQ_STACK=classic: the layer tests,
# safe loading, --data-root, classification and the seg/det end-to-end runs on torch 2.1 in
# .venv-classic; MMFREQ_STACK=classic-rotated: the rotated end-to-end runs in
# .venv-classic-rotated. Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -k fdconv`.
set -euo pipefail
cd "$(dirname "$0")/.."
stack=${MMFREQ_STACK:-latest}
case "$stack" in
  latest) venv=.venv; selection=(tests) ;;
  classic)
    venv=.venv-classic
    selection=(tests/layers tests/mm/test_checkpoint_safety.py tests/mm/test_restricted_unpickler.py
               tests/mm/test_compat.py tests/mm/test_data_root.py tests/mm/test_classification.py
               tests/mm/test_stock_tools.py
               tests/mm/test_det_configs.py::test_tiny_faster_rcnn_fdconv_trains_and_tests
               tests/mm/test_seg_configs.py::test_tiny_variant_trains_and_evaluates) ;;
  classic-rotated)
    venv=.venv-classic-rotated
    selection=("tests/mm/test_stock_tools.py::test_train_resume_test[mmrotate]"
               tests/mm/test_compat.py::test_collections_aliases_for_mmrotate
               tests/mm/test_lsknet.py::test_tiny_lsknet_fdam_trains_resumes_tests_and_writes_submission) ;;
  *) echo "MMFREQ_STACK=$stack: the stacks are latest, classic and classic-rotated" >&2; exit 2 ;;
esac
bash tools/setup_env.sh
exec "$venv/bin/python" -m pytest "${selection[@]}" "$@"
