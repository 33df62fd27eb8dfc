"""Build the configured person detector (``ingest.detect.backend``).

Learned backends run on a copy of the frame downscaled to fit ``input_width`` x ``input_height``
(the letterbox target) and answer in full-resolution pixels. The oracle reads ground truth of one
camera of a synthetic world and answers in the world's pixels directly.

:func:`make_batch_detector` builds the one detector a multi-camera ingest shares: the YOLO model
with a free batch axis (``detect.batch_model_path``), or, for the oracle, one ground-truth reader
per camera behind the same batch interface.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config.ingest import DetectConfig
from ..errors import ConfigError
from .base import DownscaledDetector, PoseDetector
from .batch import BatchDetector, CameraDetectors
from .oracle import OracleDetector, OracleOptions
from .providers import pick_providers

log = logging.getLogger(__name__)


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
        return _yolo(cfg, _resolve(cfg.model_path, root), intra_op_threads, max_batch=1)
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



def _resolve(path: str, root: str | Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else Path(root) / p


def batch_model_path(cfg: DetectConfig, root: str | Path = ".") -> Path:
    """``detect.batch_model_path``, or ``model_path`` with ``-batch`` before ``.onnx``."""
    if cfg.batch_model_path:
        return _resolve(cfg.batch_model_path, root)
    model = _resolve(cfg.model_path, root)
    return model.with_name(f"{model.stem}-batch{model.suffix}")


def _yolo(cfg: DetectConfig, model_path: Path, intra_op_threads: int, max_batch: int) -> DownscaledDetector:
    from .yolo_pose import YoloPoseDetector

    providers = pick_providers(cfg.device, model_path=model_path, max_batch=max_batch,
                               input_shape=(3, cfg.input_height, cfg.input_width))
    inner = YoloPoseDetector(
        model_path, input_width=cfg.input_width, input_height=cfg.input_height,
        score_threshold=min(cfg.low_score_threshold, cfg.score_threshold), nms_iou=cfg.nms_iou,
        min_keypoint_score=cfg.min_keypoint_score, intra_op_threads=intra_op_threads,
        providers=providers, max_batch=max_batch)
    return DownscaledDetector(inner, cfg.input_width, cfg.input_height)


def make_batch_detector(
    cfg: DetectConfig,
    camera_ids: Sequence[str],
    *,
    world: Any = None,
    intra_op_threads: int = 0,
    root: str | Path = ".",
) -> BatchDetector:
    """The one detector several cameras share (see the module doc).

    Without a batch model on disk the single-frame model still serves every camera from one
    session, frame by frame (logged once): the model is paid once, only the batching is lost.
    """
    if not camera_ids:
        raise ConfigError("make_batch_detector: no camera ids")
    if cfg.backend == "yolo-pose":
        path = batch_model_path(cfg, root)
        if not path.is_file():
            log.warning("no pose model with a free batch axis; one session detects frame by frame",
                        extra={"kv": {"missing": str(path), "hint": "run ./run setup-pose"}})
            return _yolo(cfg, _resolve(cfg.model_path, root), intra_op_threads, max_batch=1)
        return _yolo(cfg, path, intra_op_threads, max_batch=cfg.max_batch)
    if cfg.backend == "hog":
        return make_detector(cfg)   # DownscaledDetector: detect_batch runs HOG frame by frame
    return CameraDetectors({cam: make_detector(cfg, world=world, camera_id=cam) for cam in camera_ids})
