"""Make an int8 copy of an exported YOLO11n-pose ONNX model, calibrated on rendered frames. Offline.

Why: on a CPU edge box pose detection is most of the ingest's work (RESULTS.md, "Whole ingest on
4K"). Static int8 quantization (onnxruntime, QDQ, weights per channel) runs the network's
convolutions and activations on 8-bit integers (VNNI on x86), about 1.6x faster here.

What stays in float, and why: the pose head's decoding (``/model.23/``: DFL softmax and its
fixed convolution, anchor grid arithmetic, sigmoids, the final concat) and the last 1x1
convolution of each head branch. The model's one output concatenates pixel coordinates (0-640),
scores (0-1) and keypoints in one tensor; one 8-bit scale over all of it rounds every score to
0 (measured: no person found at all), and the branch outputs carry the same mixed ranges.

Calibration: frames of a small rendered world (people walking in the synthetic cameras),
letterboxed exactly as the detector does. The new model must agree with the float one on other
frames of that world: at least ``--min-agreement`` of the people the float model finds must be
found by the int8 one (box IoU >= 0.5), else nothing is written and the exit status is 1.

Runs in the export tool venv (it needs ``onnx``), which sees the project venv's packages:

    .cache/export-venv/bin/python tools/quantize_pose_model.py --src .cache/models/yolo11n-pose-640x384.onnx \\
        --out .cache/models/yolo11n-pose-640x384-int8.onnx
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEAD = "/model.23/"
BRANCHES = ("/cv2.", "/cv3.", "/cv4.")      # box, class and keypoint branches of the pose head


def float_nodes(model) -> list[str]:
    """Nodes left in float: the head's decoding and each branch's last convolution."""
    out = []
    for node in model.graph.node:
        if not node.name.startswith(HEAD):
            continue
        in_branch = any(b in node.name for b in BRANCHES)
        last_conv = node.op_type == "Conv" and node.name.endswith(".2/Conv")
        if not in_branch or last_conv:
            out.append(node.name)
    return out


def calibration_and_held_out(world_dir: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """BGR frames of every camera of a rendered world, in one decoding pass: every third frame
    (0, 3, 6, ...) to calibrate on, and frames 4, 10, 16, ... (none of those) to check agreement on."""
    import av

    calibration, held_out = [], []
    for video in sorted((world_dir / "videos").glob("*.mp4")):
        with av.open(str(video)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % 3 == 0:
                    calibration.append(frame.to_ndarray(format="bgr24"))
                elif i % 6 == 4:
                    held_out.append(frame.to_ndarray(format="bgr24"))
    return calibration, held_out


def agreement(reference, candidate, frames) -> tuple[float, int, float]:
    """(share of the reference's people the candidate finds at IoU >= 0.5, their count, mean IoU)."""
    from tastr_stream.detect.pose_decode import box_iou_one_to_many

    found, total, ious = 0, 0, []
    for frame in frames:
        a = np.array([d.box_xyxy for d in reference.detect(frame)]).reshape(-1, 4)
        b = np.array([d.box_xyxy for d in candidate.detect(frame)]).reshape(-1, 4)
        total += len(a)
        for box in a:
            if len(b):
                best = float(box_iou_one_to_many(box, b).max())
                if best >= 0.5:
                    found += 1
                    ious.append(best)
    return (found / total if total else float("nan")), total, (float(np.mean(ious)) if ious else float("nan"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", required=True, help="the float ONNX model (tools/setup_pose_model.sh)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--world", default="", help="a rendered world to calibrate on (default: render a small one)")
    ap.add_argument("--min-agreement", type=float, default=0.9)
    args = ap.parse_args()

    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from tastr_stream.detect.yolo_pose import YoloPoseDetector

    src, out = Path(args.src), Path(args.out)
    if not src.is_file():
        print(f"[quantize-pose] {src} not found: run tools/setup_pose_model.sh first", file=sys.stderr)
        return 1
    name, width, height = _model_input(src)
    reference = YoloPoseDetector(src, width, height, intra_op_threads=1)
    with tempfile.TemporaryDirectory(prefix="quantize-pose-") as tmp:
        world = Path(args.world) if args.world else _render(Path(tmp) / "world")
        calibration, held_out = calibration_and_held_out(world)
        print(f"[quantize-pose] calibrating on {len(calibration)} frames of {world}", file=sys.stderr)
        blobs = [reference.preprocess(f)[0] for f in calibration]

        class Frames(CalibrationDataReader):
            def __init__(self) -> None:
                self._it = iter(blobs)

            def get_next(self):
                blob = next(self._it, None)
                return None if blob is None else {name: blob}

        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(src), str(prepared))
        keep_float = float_nodes(onnx.load(str(prepared)))
        staged = out.with_name(out.name + ".tmp")
        quantize_static(str(prepared), str(staged), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=keep_float)
        candidate = YoloPoseDetector(staged, width, height, intra_op_threads=1)
        share, people, iou = agreement(reference, candidate, held_out)
        speed = _speedup(reference, candidate, blobs[:20])
        print(f"[quantize-pose] int8 finds {share:.1%} of the {people} people the float model finds on "
              f"{len(held_out)} other frames (mean IoU {iou:.3f}); {speed:.2f}x the float model's speed "
              f"(1 thread)", file=sys.stderr)
        if not share >= args.min_agreement:
            staged.unlink(missing_ok=True)
            print(f"[quantize-pose] agreement {share:.1%} < {args.min_agreement:.0%}: nothing written", file=sys.stderr)
            return 1
        os.replace(staged, out)
    return 0


def _model_input(path: Path) -> tuple[str, int, int]:
    """(input name, width, height) of a fixed-size exported model."""
    import onnxruntime as ort

    inp = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()[0]
    return inp.name, int(inp.shape[3]), int(inp.shape[2])


def _render(root: Path) -> Path:
    """A small world for calibration: 2 cameras, 10 people, 40 s at 6 fps, 960x540."""
    from tastr_stream.sim.world import render_world

    return render_world(root, cameras=2, people=10, minutes=40 / 60, resolution=(960, 540), seed=5, fps=6,
                        path_range_m=(10.0, 30.0), progress=False)


def _speedup(reference, candidate, blobs) -> float:
    times = []
    for det in (reference, candidate):
        det.infer(blobs[0])
        t0 = time.perf_counter()
        for blob in blobs:
            det.infer(blob)
        times.append(time.perf_counter() - t0)
    return times[0] / times[1]


if __name__ == "__main__":
    raise SystemExit(main())
