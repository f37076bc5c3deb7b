#!/usr/bin/env bash
# Distributed testing with torchrun: tools/dist_test.sh CONFIG CHECKPOINT GPUS [stock test options]
# NNODES, NODE_RANK, PORT, MASTER_ADDR as in the stock scripts. Without CUDA, GPUS is the
# number of CPU processes (gloo backend).
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
cd "$(dirname "$0")/.." || exit 1
# the repository's .venv unless PYTHON says otherwise
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
USAGE="usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [options of tools/test.py]"
case "${1:-}" in
  -h|--help) echo "$USAGE"; echo; exec "$PYTHON" tools/test.py --help ;;
esac
if [ $# -lt 3 ]; then echo "$USAGE (--help lists the options)" >&2; exit 2; fi

PYTHONPATH="$(pwd):$PYTHONPATH" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    tools/test.py "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
