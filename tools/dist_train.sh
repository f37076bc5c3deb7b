#!/usr/bin/env bash
# Distributed training with torchrun: tools/dist_train.sh CONFIG GPUS [stock train options]
# NNODES, NODE_RANK, PORT, MASTER_ADDR as in the stock scripts. Without CUDA, GPUS is the
# number of CPU processes (gloo backend).
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
cd "$(dirname "$0")/.." || exit 1
# the repository's .venv unless PYTHON says otherwise
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
USAGE="usage: tools/dist_train.sh CONFIG GPUS [options of tools/train.py]"
case "${1:-}" in
  -h|--help) echo "$USAGE"; echo; exec "$PYTHON" tools/train.py --help ;;
esac
if [ $# -lt 2 ]; then echo "$USAGE (--help lists the options)" >&2; exit 2; fi

PYTHONPATH="$(pwd):$PYTHONPATH" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    tools/train.py "$CONFIG" --launcher pytorch "${@:3}"
