#!/usr/bin/env bash
# Testing on a slurm cluster: tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [stock options]
# GPUS (default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS as in the stock scripts.
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PY_ARGS=${@:5}
cd "$(dirname "$0")/.." || exit 1
# the repository's .venv unless PYTHON says otherwise
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
USAGE="usage: tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [options of tools/test.py]"
case "${1:-}" in
  -h|--help) echo "$USAGE"; echo; exec "$PYTHON" tools/test.py --help ;;
esac
if [ $# -lt 4 ]; then echo "$USAGE (--help lists the options)" >&2; exit 2; fi

set -x
PYTHONPATH="$(pwd):$PYTHONPATH" \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    --gres=gpu:"${GPUS_PER_NODE}" \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u tools/test.py "${CONFIG}" "${CHECKPOINT}" --launcher="slurm" ${PY_ARGS}
