#!/usr/bin/env bash
# One GPU check of mmfreq's layers for a bare machine: a CUDA build of torch (e.g. Python 3.12),
# no OpenMMLab packages, no network beyond the package registry, about 10 minutes.
#
#   bash tools/gpu_check.sh            # from the repository root; MMFREQ_RELEASE_DIR=<FDConv
#                                      # checkout> adds the authors' module to the tables
#
# 1. the layer tests on the GPU (tests/cuda/test_cuda_layers.py: FDConv, FDLinear, AttInv,
#    FreqScale forward and backward on CUDA against the CPU);
# 2. benchmarks/bench_fdconv.py on CUDA at the dense-prediction shapes (batch 2 and 8) and the
#    224x224-input shapes (batch 8), fp32 and autocast fp16 / bf16, with peak CUDA memory;
# 3. benchmarks/bench_backbone.py on CUDA: ResNet-50 with and without FDConv (plain-torch
#    builder), 512x512 batch 2, training step and eval latency, fp32 / fp16 / bf16.
# Without a CUDA device it says so, skips all of it and exits 0. Each part has its own time limit;
# a part that fails or runs out of time is reported and the others still run.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
py=${PYTHON:-$(command -v python3 || command -v python)}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
say() { printf '\n[gpu_check] %s\n' "$*"; }
status=0

if ! "$py" -c 'import torch' 2>/dev/null; then
  say "torch is not importable with $py: nothing to check (install a CUDA build of torch first)"
  exit 0
fi
"$py" -c 'import torch; print("[gpu_check] torch", torch.__version__, "CUDA", torch.version.cuda)'
if ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  say 'no CUDA device visible: skipping the GPU tests and the CUDA tables (nothing failed)'
  exit 0
fi
"$py" -c 'import torch; print("[gpu_check]", torch.cuda.get_device_name(), torch.cuda.get_device_capability())'

part() {  # part SECONDS LABEL COMMAND...
  local limit=$1 label=$2; shift 2
  say "$label"
  timeout "$limit" "$@"
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    say "$label: exit status $rc$([ "$rc" -eq 124 ] && echo " (ran past ${limit}s)")"
    status=1
  fi
}

if ! "$py" -c 'import pytest' 2>/dev/null; then
  timeout 120 "$py" -m pip install -q pytest numpy >/dev/null 2>&1 ||
    say 'pytest is not installed and could not be installed: skipping the layer tests'
fi
if "$py" -c 'import pytest' 2>/dev/null; then
  part 180 'layer tests on CUDA' "$py" -m pytest tests/cuda/test_cuda_layers.py -m cuda -q -rs \
    -p no:cacheprovider
fi

release=()
[ -n "${MMFREQ_RELEASE_DIR:-}" ] && release=(--release "${MMFREQ_RELEASE_DIR%%:*}")
cd benchmarks
part 150 'FDConv vs nn.Conv2d, dense-prediction shapes (issue #23 item 1)' \
  "$py" bench_fdconv.py --device cuda --preset dense --batches 2 8 --repeats 10 \
  --amp off fp16 bf16 "${release[@]}"
part 90 'FDConv vs nn.Conv2d, 224x224-input shapes (item 2)' \
  "$py" bench_fdconv.py --device cuda --preset 224 --batches 8 --repeats 10 \
  --amp off fp16 bf16 "${release[@]}"
for amp in off fp16 bf16; do
  amp_arg=(); [ "$amp" = off ] || amp_arg=(--amp "$amp")
  part 90 "ResNet-50 vs ResNet-50 FDConv, 512x512 batch 2, $amp (item 5)" \
    "$py" bench_backbone.py --device cuda --builder torch --models resnet50 --batch 2 \
    --size 512 --repeats 10 --warmup 3 "${amp_arg[@]}"
done
exit $status
