"""Person pose detection: one interface, three backends (YOLO11n-pose ONNX, OpenCV HOG, oracle).

Heavy backends are imported lazily by :func:`make_detector`, so importing this package needs
neither onnxruntime nor a model file.
"""

from .base import DownscaledDetector, PoseDetector, scale_detection
from .box_from_pose import box_from_keypoints
from .factory import make_detector
from .oracle import OracleDetector, OracleOptions

__all__ = [
    "DownscaledDetector", "OracleDetector", "OracleOptions", "PoseDetector", "box_from_keypoints",
    "make_detector", "scale_detection",
]
