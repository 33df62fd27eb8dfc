"""Build the configured person detector (``ingest.detect.backend``).

Learned backends run on a copy of the frame downscaled to fit ``input_width`` x ``input_height``
(the letterbox target) and answer in full-resolution pixels. The oracle reads ground truth of one
camera of a synthetic world and answers in the world's pixels directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config.ingest import DetectConfig
from ..errors import ConfigError
from .base import DownscaledDetector, PoseDetector
from .oracle import OracleDetector, OracleOptions


def oracle_options(cfg: DetectConfig) -> OracleOptions:
    """Oracle knobs from the config."""
    return OracleOptions(
        box_noise=cfg.oracle_box_noise,
        miss_rate=cfg.oracle_miss_rate,
        fragment_rate=cfg.oracle_fragment_rate,
        fragment_max_frames=cfg.oracle_fragment_frames,
        seed=cfg.oracle_seed,
    )


def make_detector(
    cfg: DetectConfig,
    *,
    world: Any = None,
    camera_id: str | None = None,
    intra_op_threads: int = 0,
    root: str | Path = ".",
) -> PoseDetector:
    """The detector ``cfg.backend`` names.

    ``world`` (a ``SyntheticWorld``) and ``camera_id`` are needed by the oracle only.
    Learned backends answer down to ``cfg.low_score_threshold``: the tracker's second pass uses
    the weak detections (``PoseTracker(high_score=cfg.score_threshold)``).
    ``intra_op_threads`` bounds onnxruntime's threads (0 = its default: all cores); ingest runs
    one process per camera, so it should divide the cores among them. A relative
    ``cfg.model_path`` is resolved against ``root``.
    """
    if cfg.backend == "yolo-pose":
        from .yolo_pose import YoloPoseDetector

        model_path = Path(cfg.model_path)
        if not model_path.is_absolute():
            model_path = Path(root) / model_path
        inner = YoloPoseDetector(
            model_path, input_width=cfg.input_width, input_height=cfg.input_height,
            score_threshold=min(cfg.low_score_threshold, cfg.score_threshold), nms_iou=cfg.nms_iou,
            min_keypoint_score=cfg.min_keypoint_score, intra_op_threads=intra_op_threads)
        return DownscaledDetector(inner, cfg.input_width, cfg.input_height)
    if cfg.backend == "hog":
        from .hog import HogPeopleDetector

        inner = HogPeopleDetector(score_threshold=min(cfg.low_score_threshold, cfg.score_threshold),
                                  nms_iou=cfg.nms_iou)
        return DownscaledDetector(inner, cfg.input_width, cfg.input_height)
    if cfg.backend == "oracle":
        if world is None or camera_id is None:
            raise ConfigError(f"detect.backend='oracle' needs the synthetic world and a camera id "
                              f"(got world={world!r}, camera_id={camera_id!r})")
        return OracleDetector(world.gt_frames(camera_id), oracle_options(cfg))
    raise ConfigError(f"detect.backend={cfg.backend!r}: expected 'yolo-pose', 'hog' or 'oracle'")

