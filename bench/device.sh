#!/usr/bin/env bash
# GPU checks on the device machine in one call, under 8 minutes: the cuda-marked tests, then the
# CorrRISE, models and runs benchmarks (quick modes), each printing its ratios.
#
# The device machine is bare: Python 3.12 with torch, numpy, scipy, pytest, hypothesis, onnxruntime
# and pillow, no network, no MediaPipe. So, on the developer's machine first:
#     python bench/device_prepare.py        # writes .device/ (assets, prepared faces, wheels)
# then with the device tool:
#     run(command="bash bench/device.sh", carry=[".device"], timeout_s=540)
# Each step has its own time limit, so one that hangs cannot take the others' time.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -f .device/faces.pkl ]; then
  echo "device.sh: .device/ is missing: run 'python bench/device_prepare.py' here and carry .device" >&2
  exit 2
fi
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export FACEWIDGET_CACHE="$PWD/.device/cache" FACEWIDGET_DEVICE_FACES="$PWD/.device/faces.pkl"
site=/tmp/facewidget-device-site
if ls .device/wheels/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .device/wheels/*.whl \
    || echo "device.sh: the carried wheels did not install (bench/models.py will fail)"
fi
# bench/device_site/sitecustomize.py serves the prepared faces to detect_faces (no MediaPipe there)
export PYTHONPATH="$PWD/bench/device_site:$site:$PWD"

nvidia-smi -L 2>/dev/null
$PY -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(), '|',
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')"

status=0
step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2 start rc
  shift 2
  echo; echo "== $name (limit ${limit} s)"
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$@"
  rc=$?
  echo "== $name: exit $rc after $(( $(date +%s) - start )) s"
  [ "$rc" -eq 0 ] || status=1
}

step "cuda tests" 150 $PY -m pytest -m cuda tests/test_cuda.py -q -rs -p no:cacheprovider
step "CorrRISE benchmark" 150 $PY bench/corrrise.py --quick
step "models benchmark" 60 $PY bench/models.py --repeats 2
if [ -f bench/runs.py ]; then
  step "runs benchmark" 90 $PY bench/runs.py --quick
else
  echo; echo "== runs benchmark: bench/runs.py is not in this checkout (skipped)"
fi
echo; echo "device.sh: $([ $status -eq 0 ] && echo 'every step passed' || echo 'some step FAILED (see above)')"
exit $status
