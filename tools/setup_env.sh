#!/usr/bin/env bash
# Create a venv in the repository with an OpenMMLab stack and mmfreq (editable).
#
# MMFREQ_STACK picks the stack (default latest); each has its own venv:
#   latest           .venv                  torch 2.13 (or the torch already installed), mmcv 2.0.1,
#                                           mmdet 3.1.0, mmseg 1.2.2, mmrotate 1.0.0rc1, mmyolo 0.6.0
#   classic          .venv-classic          the most common existing environment: torch 2.1.2 +
#                                           torchvision 0.16.2, mmcv 2.1.0, mmengine 0.10.7,
#                                           mmdet 3.3.0, mmseg 1.2.2, mmpretrain 1.2.0
#   classic-rotated  .venv-classic-rotated  torch 2.1.2, mmcv 2.0.1, mmdet 3.1.0, mmrotate 1.0.0rc1
#                                           (mmrotate 1.0.0rc1 refuses mmdet > 3.1.0, which refuses
#                                           mmcv >= 2.1)
# The classic stacks are built as a user's existing environment first; mmfreq is then installed
# into it the way a user would (`pip install -e .[extras]`, dependencies resolved by pip), and the
# script fails unless `pip freeze` before and after differ by mmfreq alone.
#
# latest: an already installed torch (e.g. a CUDA build on a GPU machine) is kept: either one
# installed in .venv/ before running this, or one importable by $PYTHON (the venv then sees the
# system site-packages). mmcv is built against the venv's torch, with its CUDA ops when a GPU is
# visible or when asked for (no GPU needed to build them). The mmcv wheel is cached outside the
# repository, keyed by the mmcv / torch / python / CUDA versions (and CUDA architectures), so only
# the first install pays for the build; an interrupted build resumes, and a second setup running
# at the same time (another clone, CI) waits for the first one's build and reuses its wheel.
#
# Environment: MMFREQ_STACK (above), PYTHON (interpreter for the venv, default python3.11 or
#              python3), MMFREQ_CACHE (wheel cache, default ~/.cache/mmfreq), MAX_JOBS (build jobs),
#              MMFREQ_CUDA_ARCH (e.g. "8.0;9.0": build the CUDA ops for these GPUs; needs a
#              CUDA build of torch), or the standard FORCE_CUDA=1 with TORCH_CUDA_ARCH_LIST,
#              CUDA_HOME (CUDA toolkit to compile with; by default, for CUDA >= 13, the
#              compiler of torch's exact CUDA version is installed from PyPI into the venv).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
cache=${MMFREQ_CACHE:-$HOME/.cache/mmfreq}
stack=${MMFREQ_STACK:-latest}
log() { printf '[setup] %s\n' "$*"; }
source "$repo/tools/build_lock.sh"
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

MMENGINE=0.10.7
SETUPTOOLS=80.9.0   # torch 2.13 wants >=77.0.3; mmcv's build and mmengine's `mmdet::` lookup need pkg_resources
case "$stack" in
  latest)
    venv=$repo/.venv
    TORCH=2.13.0 TORCHVISION= NUMPY=numpy MMCV=2.0.1
    # mmyolo 0.6.0 (the optional extra [yolo]) requires mmcv < 2.1
    CODEBASES="mmdet==3.1.0 mmsegmentation==1.2.2 mmrotate==1.0.0rc1 mmyolo==0.6.0 ftfy regex"
    IMPORTS='mmdet, mmseg, mmrotate, mmyolo' ;;
  classic)
    venv=$repo/.venv-classic
    TORCH=2.1.2 TORCHVISION=0.16.2 NUMPY=numpy==1.26.4 MMCV=2.1.0   # torch 2.1 is built on numpy 1
    CODEBASES="mmdet==3.3.0 mmsegmentation==1.2.2 mmpretrain==1.2.0 ftfy regex"
    EXTRAS=det,seg,cls IMPORTS='mmdet, mmseg, mmpretrain, torchvision' ;;
  classic-rotated)
    venv=$repo/.venv-classic-rotated
    TORCH=2.1.2 TORCHVISION= NUMPY=numpy==1.26.4 MMCV=2.0.1
    CODEBASES="mmdet==3.1.0 mmrotate==1.0.0rc1"
    EXTRAS=rotate IMPORTS='mmdet, mmrotate' ;;
  *) die "MMFREQ_STACK=$stack: the stacks are latest, classic and classic-rotated" ;;
esac
log "stack $stack: $venv"

if [ ! -x "$venv/bin/python" ]; then
  if [ "$stack" = latest ] && "$PYTHON" -c 'import torch' 2>/dev/null; then
    log "keeping the torch installed for $PYTHON: venv with system site-packages"
    "$PYTHON" -m venv --system-site-packages "$venv"
  else
    "$PYTHON" -m venv "$venv"
  fi
fi
py=$venv/bin/python
pip() { "$py" -m pip "$@"; }
pip install -q "setuptools==$SETUPTOOLS" wheel packaging ninja "$NUMPY"

if ! "$py" -c 'import torch' 2>/dev/null; then
  log "installing torch==$TORCH${TORCHVISION:+ torchvision==$TORCHVISION}"
  pip install -q "torch==$TORCH" ${TORCHVISION:+"torchvision==$TORCHVISION"} "$NUMPY"
fi
read -r torch_version torch_cuda gpu_arch py_tag < <("$py" -c '
import sys, torch
gpus = range(torch.cuda.device_count()) if torch.cuda.is_available() else []
arch = sorted({"%d.%d" % torch.cuda.get_device_capability(i) for i in gpus})
print(torch.__version__.split("+")[0], torch.version.cuda or "none", ";".join(arch) or "none",
      f"cp{sys.version_info[0]}{sys.version_info[1]}")') || true
[ -n "${py_tag:-}" ] || die "cannot import torch with $py"

# CUDA ops when asked for (MMFREQ_CUDA_ARCH, or FORCE_CUDA=1 + TORCH_CUDA_ARCH_LIST) or a GPU
# is visible; the architectures to compile for are then fixed here, so they name the wheel.
cuda_arch=
if [ -n "${MMFREQ_CUDA_ARCH:-}" ]; then
  cuda_arch=$MMFREQ_CUDA_ARCH
elif [ "${FORCE_CUDA:-0}" = 1 ]; then
  cuda_arch=${TORCH_CUDA_ARCH_LIST:-}
  [ -n "$cuda_arch" ] || [ "$gpu_arch" != none ] ||
    die 'FORCE_CUDA=1 without a visible GPU needs the GPU architectures: set TORCH_CUDA_ARCH_LIST (or MMFREQ_CUDA_ARCH), e.g. "8.0;9.0"'
  cuda_arch=${cuda_arch:-$gpu_arch}
elif [ "$gpu_arch" != none ]; then
  cuda_arch=${TORCH_CUDA_ARCH_LIST:-$gpu_arch}
fi
if [ -n "$cuda_arch" ]; then
  [ "$torch_cuda" != none ] ||
    die "CUDA ops need a CUDA build of torch; torch $torch_version here is CPU-only. Install a CUDA build into .venv/ first (e.g. .venv/bin/python -m pip install torch==<version>), then re-run"
  arch_tag=$(printf '%s' "$cuda_arch" | tr ' ;' '\n\n' | sed '/^$/d' | sort -u | paste -sd_ -)
  cuda_tag="cu${torch_cuda//./}-arch$arch_tag"
else
  cuda_tag=cpu
fi
log "torch $torch_version (CUDA $torch_cuda), $py_tag, mmcv ops: $cuda_tag"

# Never let a dependency replace torch (a multi-GB CUDA build) or setuptools.
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
# the installed distribution's version: PyPI's CUDA wheels say 2.15.0 where torch.__version__
# says 2.15.0+cu132, and pip would look for the latter
"$py" -c 'import importlib.metadata as m; print("torch==" + m.version("torch"))' >"$constraints"
echo "setuptools==$SETUPTOOLS" >>"$constraints"
echo "$NUMPY" >>"$constraints"

# mmcv with ops: no wheel exists for this torch; build from the sdist once, cache the wheel.
# An installed mmcv is kept if it has the ops asked for (a CUDA build also serves CPU runs).
key="mmcv-$MMCV-torch$torch_version-$py_tag-$cuda_tag"
wheel_dir=$cache/wheels/$key
want_cuda=$([ -n "$cuda_arch" ] && echo 1 || echo 0)
if ! "$py" -c "
import mmcv, mmcv.ops
assert mmcv.__version__ == '$MMCV'
assert $want_cuda == 0 or mmcv.ops.get_compiling_cuda_version() != 'not available'" 2>/dev/null; then
  # one build per key at a time: a second setup (another clone, CI) waits, then reuses the wheel
  build_mmcv() {
    ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1 && return
    if [ -n "$cuda_arch" ]; then
      export FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=$cuda_arch
      if [ -z "${CUDA_HOME:-}" ] && [ "${torch_cuda%%.*}" -ge 13 ]; then
        log "installing the CUDA $torch_cuda compiler into the venv (set CUDA_HOME to use another toolkit)"
        pip install -q -c "$constraints" "cuda-toolkit[nvcc,nvvm,crt,cccl,cudart]==$torch_cuda.*"
        CUDA_HOME=$("$py" -c 'import importlib.metadata as m; print(m.distribution("nvidia-cuda-nvcc").locate_file("nvidia/cu13"))')
        export CUDA_HOME
      fi
      "$py" -c 'from torch.utils.cpp_extension import CUDA_HOME; assert CUDA_HOME' 2>/dev/null ||
        die "no CUDA toolkit found for torch's CUDA $torch_cuda: set CUDA_HOME to one (its bin/nvcc is used)"
      log "building $key (CUDA ops for $cuda_arch; long, once)"
    else
      log "building $key (about 11 minutes on 2 cores, once)"
    fi
    build=$cache/build/$key   # kept until the wheel is cached: a re-run resumes the build
    src=$build/mmcv-$MMCV
    if [ ! -f "$src/setup.py" ]; then
      rm -rf "$build" && mkdir -p "$build"
      pip download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV" -d "$build"
      tar xzf "$build"/mmcv-$MMCV.tar.gz -C "$build"
    fi
    if [ -n "$cuda_arch" ] && [ ! -e "$CUDA_HOME/lib/libcudart.so" ] && [ ! -e "$CUDA_HOME/lib64/libcudart.so" ]; then
      # PyPI's CUDA runtime ships only libcudart.so.<major>; the link step asks for -lcudart.
      mkdir -p "$build/lib"
      ln -sf "$(ls "$CUDA_HOME"/lib*/libcudart.so.* | head -n1)" "$build/lib/libcudart.so"
      export LIBRARY_PATH=$build/lib${LIBRARY_PATH:+:$LIBRARY_PATH}
    fi
    # mmcv 2.0's setup.py asks for C++14; torch's headers need C++17, or C++20 from 2.15 on.
    cxx_std=$("$py" -c 'import os, torch
header = open(os.path.join(os.path.dirname(torch.__file__), "include", "ATen", "ATen.h")).read()
print("c++20" if "202002L" in header else "c++17")')
    sed -i -E "s/c\+\+(14|17|20)/$cxx_std/g" "$src/setup.py"
    pip install -q -c "$constraints" addict mmengine=="$MMENGINE" opencv-python-headless pyyaml yapf
    (cd "$src" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "$py" -m pip wheel -q --no-build-isolation --no-deps -w "$build/dist" .)
    mkdir -p "$wheel_dir.partial"
    cp "$build"/dist/mmcv-*.whl "$wheel_dir.partial/"
    rm -rf "$wheel_dir" && mv "$wheel_dir.partial" "$wheel_dir"
    rm -rf "$build"
  }
  holding_build_lock "$cache" "$key" build_mmcv
  if pip show -q mmcv 2>/dev/null; then pip uninstall -q -y mmcv; fi   # same version, other ops
  pip install -q -c "$constraints" "$wheel_dir"/mmcv-*.whl
fi

if [ "$stack" = latest ]; then
  pip install -q -c "$constraints" "mmengine==$MMENGINE" $CODEBASES matplotlib pytest onnx \
    onnxscript onnxruntime
  pip install -q -c "$constraints" --no-build-isolation --no-deps -e "$repo"
else
  pip install -q -c "$constraints" "mmengine==$MMENGINE" $CODEBASES pytest
  # the user's environment is complete: install mmfreq into it as a user would, and check that
  # nothing else changed
  if pip show -q mmfreq 2>/dev/null; then pip uninstall -q -y mmfreq; fi
  before=$(pip freeze --all --exclude mmfreq)
  log "installing mmfreq into it: pip install -e '.[$EXTRAS]'"
  pip install -q -e "$repo[$EXTRAS]"
  after=$(pip freeze --all --exclude mmfreq)
  if [ "$before" != "$after" ]; then
    diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") >&2 || true
    die "installing mmfreq[$EXTRAS] changed the packages above (pip freeze before < > after)"
  fi
  log "pip freeze before and after installing mmfreq[$EXTRAS] differs by mmfreq alone:" \
    "$(pip list --format=freeze | grep -i '^mmfreq==')"
fi
"$py" -c "import mmfreq, mmcv.ops, $IMPORTS
print('[setup] ok: mmfreq', mmfreq.__version__, '| mmcv ops compiled with CUDA:',
      mmcv.ops.get_compiling_cuda_version())"
