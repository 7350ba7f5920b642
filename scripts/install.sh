#!/usr/bin/env bash
# Idempotent installer for mmloss-plugin's pinned CPU development stack.
#
#   scripts/install.sh            # create/refresh .venv and install everything
#
# Environment knobs:
#   PYTHON          interpreter used to create the venv (default: python3.11, else python3)
#   VENV            venv directory (default: .venv)
#   MMLOSS_CACHE    cache outside the repo for the compiled mmcv wheel
#                   (default: ${XDG_CACHE_HOME:-$HOME/.cache}/mmloss-plugin)
#   MAX_JOBS        compiler jobs for the one-time mmcv build (default: nproc)
#
# The first run compiles mmcv 2.1.0 with its C++/CPU ops from the PyPI sdist
# (PyPI ships no binary wheel for it). That takes 15-30 minutes on 2 cores.
# The resulting wheel is cached in $MMLOSS_CACHE and reused by every later run,
# which then completes in about a minute or two.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${VENV:-.venv}
CACHE=${MMLOSS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmloss-plugin}
WHEELS="$CACHE/wheels"
STAMP="$VENV/.mmloss-installed"

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMENGINE_VERSION=0.10.7
MMCV_VERSION=2.1.0
MMPRETRAIN_VERSION=1.2.0
MMSEG_VERSION=1.2.2

step() { printf '\n[install %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

if [ -z "${PYTHON:-}" ]; then
  if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi

# Fast path: nothing changed since the last successful install.
fingerprint=$(cat pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$fingerprint" ] && [ -x "$VENV/bin/python" ]; then
  step "environment up to date ($VENV); delete $STAMP to force a reinstall"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  step "creating virtual environment $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
PY="$ROOT/$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

step "base tooling (pip, setuptools<82 for mmengine's pkg_resources, wheel)"
"${PIP[@]}" install -q --upgrade pip 'setuptools<82' wheel ninja

step "torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION (large download on first install)"
"${PIP[@]}" install --progress-bar on "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"

step "mmengine==$MMENGINE_VERSION and numpy"
"${PIP[@]}" install -q "mmengine==$MMENGINE_VERSION" 'numpy<2' 'opencv-python-headless<4.11'

mkdir -p "$WHEELS"
mmcv_wheel=$(ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$mmcv_wheel" ]; then
  step "no cached mmcv wheel in $WHEELS: building full mmcv $MMCV_VERSION (with ops) from the sdist"
  echo "  This is a one-time build (15-30 min on 2 cores). The wheel is cached and reused afterwards."
  echo "  Why: PyPI has no mmcv $MMCV_VERSION wheel, mmsegmentation needs the compiled mmcv.ops,"
  echo "  and torch $TORCH_VERSION headers need C++20 while mmcv's setup.py pins an older standard."
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
  "${PIP[@]}" download -q --no-deps --no-binary mmcv --no-build-isolation "mmcv==$MMCV_VERSION" -d "$build"
  tar -xzf "$build"/mmcv-"$MMCV_VERSION".tar.gz -C "$build"
  src="$build/mmcv-$MMCV_VERSION"
  sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$src/setup.py"
  if ! grep -q -- '-std=c++20' "$src/setup.py"; then
    echo "error: could not switch mmcv's C++ standard flag in setup.py" >&2
    exit 1
  fi
  jobs=${MAX_JOBS:-$(nproc)}
  echo "  compiling with MAX_JOBS=$jobs; log: $CACHE/mmcv-build.log"
  start=$(date +%s)
  ( cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$jobs" \
      "${PIP[@]}" wheel --no-deps --no-build-isolation -v . -w "$build/dist" ) >"$CACHE/mmcv-build.log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    done_objs=$(grep -c '\.o$\|Building\|\[[0-9]*/[0-9]*\]' "$CACHE/mmcv-build.log" 2>/dev/null || true)
    last=$(grep -o '\[[0-9]*/[0-9]*\]' "$CACHE/mmcv-build.log" 2>/dev/null | tail -n 1 || true)
    printf '  ... %4ds elapsed, compile step %s\n' "$(( $(date +%s) - start ))" "${last:-starting}"
  done
  if ! wait "$pid"; then
    echo "error: mmcv build failed; last lines of $CACHE/mmcv-build.log:" >&2
    tail -n 40 "$CACHE/mmcv-build.log" >&2
    exit 1
  fi
  cp "$build"/dist/mmcv-"$MMCV_VERSION"-*.whl "$WHEELS"/
  mmcv_wheel=$(ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1)
  step "mmcv wheel built in $(( $(date +%s) - start ))s and cached: $mmcv_wheel"
else
  step "reusing cached mmcv wheel $mmcv_wheel"
fi
"${PIP[@]}" install -q --no-deps "$mmcv_wheel"
# mmcv's own runtime requirements (its wheel was installed with --no-deps above).
"${PIP[@]}" install -q addict packaging Pillow pyyaml yapf

step "mmpretrain==$MMPRETRAIN_VERSION mmsegmentation==$MMSEG_VERSION"
# ftfy and regex: mmseg.utils imports its CLIP tokenizer at module level, so every mmseg
# dataset/visualizer build fails without them, but mmsegmentation does not declare them.
"${PIP[@]}" install -q "mmpretrain==$MMPRETRAIN_VERSION" "mmsegmentation==$MMSEG_VERSION" "mmcv==$MMCV_VERSION" \
  ftfy regex

step "mmloss-plugin (editable) with test extras"
"${PIP[@]}" install -q --no-build-isolation -e ".[tests]"

step "sanity check"
"$PY" - <<'PY'
import torch, torchvision, mmengine, mmcv, mmpretrain, mmseg
from mmcv.ops import nms  # noqa: F401  (fails on mmcv-lite)
import mmseg.utils  # noqa: F401  (needs ftfy/regex)
import mmloss_plugin
print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, mmengine {mmengine.__version__}, "
      f"mmcv {mmcv.__version__} (ops ok), mmpretrain {mmpretrain.__version__}, mmseg {mmseg.__version__}, "
      f"mmloss_plugin {mmloss_plugin.__version__}")
PY
echo "$fingerprint" > "$STAMP"
step "done"
