#!/usr/bin/env bash
# Create .venv/ in the repository with the whole OpenMMLab stack and mmfreq (editable).
#
# The only versions that co-install on current torch are pinned below. An already
# installed torch (e.g. a CUDA build on a GPU machine) is kept: the venv then sees the
# system site-packages, and mmcv is built against that torch (with CUDA ops when
# CUDA is available). The mmcv wheel is cached outside the repository, keyed by the
# mmcv / torch / python / CUDA versions, so only the first install pays for the build.
#
# Environment: PYTHON (interpreter for the venv, default python3.11 or python3),
#              MMFREQ_CACHE (wheel cache, default ~/.cache/mmfreq), MAX_JOBS (build jobs).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
cache=${MMFREQ_CACHE:-$HOME/.cache/mmfreq}
venv=$repo/.venv
log() { printf '[setup] %s\n' "$*"; }

TORCH_DEFAULT=2.13.0
MMENGINE=0.10.7
MMCV=2.0.1
MMDET=3.1.0
MMSEG=1.2.2
MMROTATE=1.0.0rc1
SETUPTOOLS=80.9.0   # torch 2.13 wants >=77.0.3; mmcv's build and mmengine's `mmdet::` lookup need pkg_resources

if [ ! -x "$venv/bin/python" ]; then
  if "$PYTHON" -c 'import torch' 2>/dev/null; then
    log "keeping the torch installed for $PYTHON: venv with system site-packages"
    "$PYTHON" -m venv --system-site-packages "$venv"
  else
    "$PYTHON" -m venv "$venv"
  fi
fi
py=$venv/bin/python
pip() { "$py" -m pip "$@"; }
pip install -q "setuptools==$SETUPTOOLS" wheel packaging ninja numpy

if ! "$py" -c 'import torch' 2>/dev/null; then
  log "installing torch==$TORCH_DEFAULT"
  pip install -q "torch==$TORCH_DEFAULT"
fi
torch_version=$("$py" -c 'import torch; print(torch.__version__.split("+")[0])')
cuda_tag=$("$py" -c 'import torch; print("cu" + torch.version.cuda.replace(".", "") if torch.version.cuda and torch.cuda.is_available() else "cpu")')
py_tag=$("$py" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
log "torch $torch_version ($cuda_tag), $py_tag"

# Never let a dependency replace torch (a multi-GB CUDA build) or setuptools.
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
"$py" -c 'import torch; print("torch==" + torch.__version__)' >"$constraints"
echo "setuptools==$SETUPTOOLS" >>"$constraints"

# mmcv with ops: no wheel exists for this torch; build from the sdist once, cache the wheel.
key="mmcv-$MMCV-torch$torch_version-$py_tag-$cuda_tag"
wheel_dir=$cache/wheels/$key
if ! "$py" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV'" 2>/dev/null; then
  if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
    log "building $key (about 11 minutes on 2 cores, once)"
    build=$(mktemp -d)
    pip download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV" -d "$build"
    tar xzf "$build"/mmcv-$MMCV.tar.gz -C "$build"
    # mmcv 2.0.1's setup.py asks for C++14; current torch headers need C++17.
    sed -i 's/c++14/c++17/g' "$build/mmcv-$MMCV/setup.py"
    pip install -q -c "$constraints" addict mmengine=="$MMENGINE" opencv-python-headless pyyaml yapf
    if [ "$cuda_tag" != cpu ]; then export FORCE_CUDA=1; fi
    (cd "$build/mmcv-$MMCV" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "$py" -m pip wheel -q --no-build-isolation --no-deps -w "$build/dist" .)
    mkdir -p "$wheel_dir"
    cp "$build"/dist/mmcv-*.whl "$wheel_dir/"
    rm -rf "$build"
  fi
  pip install -q -c "$constraints" "$wheel_dir"/mmcv-*.whl
fi

pip install -q -c "$constraints" "mmengine==$MMENGINE" "mmdet==$MMDET" "mmsegmentation==$MMSEG" \
  "mmrotate==$MMROTATE" ftfy regex matplotlib pytest
pip install -q -c "$constraints" --no-build-isolation --no-deps -e "$repo"
"$py" -c 'import mmfreq, mmcv.ops, mmdet, mmseg, mmrotate; print("[setup] ok: mmfreq", mmfreq.__version__)'
