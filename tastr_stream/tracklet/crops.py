"""Cut person crops from the full-resolution frame and encode them for the wire.

Detection runs on a downscaled frame but boxes come back in full-resolution pixels; cropping
here keeps the 4K detail the paper relies on. The crop is resized to the model input
(256x128 by default) before JPEG encoding, so a tracklet of 60 crops stays ~0.3 MB.

Head blur (``ingest.tracklet.blur_heads``, on by default): the head is blurred in the crop as it
is cut, at the edge, before anything embeds, stores or shows it. So every embedding that is ever
compared comes from the same kind of crop: the edge's first embedding, the associator's
re-embedding after a swap and the trainer all read these crops, and image search blurs the
uploaded image the same way (:func:`blur_head_fallback`). The head is located from the pose
keypoints the detector already gives (COCO 0-4: nose, eyes, ears); without a confident one,
the top ``HEAD_FALLBACK_SHARE`` of the box is blurred.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..errors import StreamError

if TYPE_CHECKING:
    from ..decode.frame import Frame


HEAD_KEYPOINTS = slice(0, 5)          # COCO: nose, left/right eye, left/right ear
HEAD_MIN_KEYPOINT_SCORE = 0.3          # as detect.min_keypoint_score's default
HEAD_FALLBACK_SHARE = 0.18             # top of the box blurred when no head keypoint is confident
HEAD_MIN_HALF_SIZE = 0.10              # half the blurred square, at least this share of the crop height
HEAD_BLUR_CELLS = 4                    # the head is averaged down to about this many cells across


def cut_crop(frame_bgr: np.ndarray | Frame, box_xyxy: np.ndarray, out_hw: tuple[int, int], *,
             blur_head: bool = False, keypoints: np.ndarray | None = None,
             min_keypoint_score: float = HEAD_MIN_KEYPOINT_SCORE) -> np.ndarray | None:
    """Crop ``box_xyxy`` (clipped to the frame) and resize to ``out_hw``; None if the box is empty.

    ``frame_bgr`` is a BGR array or a decoded :class:`~tastr_stream.decode.Frame`, whose
    ``region`` converts only the box's pixels (a crop of a 4K frame does not pay for the rest).
    ``blur_head``: blur the head, found from ``keypoints`` ((17, 3) x, y, score in frame pixels)
    or, without a confident head keypoint, as the top of the box."""
    is_array = isinstance(frame_bgr, np.ndarray)
    h, w = frame_bgr.shape[:2] if is_array else (frame_bgr.height, frame_bgr.width)
    x1, y1, x2, y2 = (int(round(v)) for v in box_xyxy)
    x1, y1 = max(0, x1), max(0, y1)
    x2, y2 = min(w, x2), min(h, y2)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    crop = frame_bgr[y1:y2, x1:x2] if is_array else frame_bgr.region(x1, y1, x2, y2)
    interp = cv2.INTER_AREA if (y2 - y1) > out_hw[0] else cv2.INTER_LINEAR
    out = cv2.resize(crop, (out_hw[1], out_hw[0]), interpolation=interp)
    if blur_head:
        scale = np.array([out_hw[1] / (x2 - x1), out_hw[0] / (y2 - y1)])
        head = None if keypoints is None else _head_points(keypoints, min_keypoint_score)
        region = (_fallback_region(out.shape) if head is None or not len(head)
                  else _region_from_points((head - (x1, y1)) * scale, out.shape))
        _blur_region(out, region)
    return out


def blur_head_fallback(image_bgr: np.ndarray) -> np.ndarray:
    """A person image without keypoints (an upload to image search) blurred like a crop whose
    detector gave no confident head keypoint: the top of the image. Returns a new image."""
    out = image_bgr.copy()
    _blur_region(out, _fallback_region(out.shape))
    return out


def _head_points(keypoints: np.ndarray, min_score: float) -> np.ndarray:
    kps = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)[HEAD_KEYPOINTS]
    return kps[(kps[:, 2] >= min_score) & np.isfinite(kps[:, :2]).all(axis=1), :2]


def _fallback_region(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    return 0, 0, shape[1], max(1, int(round(HEAD_FALLBACK_SHARE * shape[0])))


def _region_from_points(points_xy: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A square-ish box around the face points (crop pixels): the nose and eyes sit near the
    middle of a head, the crown further above them than the chin below."""
    h, w = shape[:2]
    lo, hi = points_xy.min(axis=0), points_xy.max(axis=0)
    cx, cy = (lo + hi) / 2
    half = max(0.75 * float(np.max(hi - lo)), HEAD_MIN_HALF_SIZE * h)
    x0, x1 = int(np.floor(cx - half)), int(np.ceil(cx + half))
    y0, y1 = int(np.floor(cy - 1.4 * half)), int(np.ceil(cy + 1.0 * half))
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def _blur_region(image: np.ndarray, region: tuple[int, int, int, int]) -> None:
    """Average the region down to a few cells and smooth it back up, in place: no facial detail
    survives (nothing to sharpen back), colours and the head's outline roughly do."""
    x0, y0, x1, y1 = region
    if x1 - x0 < 1 or y1 - y0 < 1:
        return
    patch = image[y0:y1, x0:x1]
    ph, pw = patch.shape[:2]
    cells = max(1, max(ph, pw) // HEAD_BLUR_CELLS)
    small = cv2.resize(patch, (max(1, pw // cells), max(1, ph // cells)), interpolation=cv2.INTER_AREA)
    smooth = cv2.resize(small, (pw, ph), interpolation=cv2.INTER_LINEAR)
    image[y0:y1, x0:x1] = cv2.GaussianBlur(smooth, (0, 0), sigmaX=max(1.0, cells / 2))


def encode_jpeg(image_bgr: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise StreamError(f"JPEG encoding failed for a crop of shape {image_bgr.shape}")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray | None:
    """BGR image, or None when the bytes are not a decodable image."""
    arr = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(arr, cv2.IMREAD_COLOR) if arr.size else None
    return img
