"""Plain typed records that flow between stages and across the wire.

Arrays are numpy with fixed dtypes and shapes checked on construction, so a malformed record
fails where it is made, not three stages later. Ids are per camera: a tracklet id reads
``cam3:<session>:17`` (camera, ingest session, local track id) and is unique network-wide
because every ingest start draws a fresh session tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import WireError

NUM_KEYPOINTS = 17  # COCO order: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles
MAX_CROPS = 1000
MAX_CROP_BYTES = 4 * 1024 * 1024
MAX_EMB_DIM = 8192


def _as(arr, dtype, shape: tuple[int | None, ...], name: str) -> np.ndarray:
    a = np.asarray(arr, dtype=dtype)
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
        raise WireError(f"{name}: expected shape {shape}, got {a.shape}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise WireError(f"{name}: contains NaN or infinity")
    return a


@dataclass(frozen=True)
class Detection:
    """One person in one frame. The box is derived from the keypoints (paper IV-A)."""

    box_xyxy: np.ndarray            # (4,) float32, full-resolution pixels
    keypoints: np.ndarray           # (17, 3) float32: x, y, score
    score: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "box_xyxy", _as(self.box_xyxy, np.float32, (4,), "box_xyxy"))
        object.__setattr__(self, "keypoints", _as(self.keypoints, np.float32, (NUM_KEYPOINTS, 3), "keypoints"))
        x1, y1, x2, y2 = self.box_xyxy
        if x2 < x1 or y2 < y1:
            raise WireError(f"box_xyxy: x2<x1 or y2<y1 in {self.box_xyxy.tolist()}")


@dataclass(frozen=True)
class TrackObservation:
    """A tracked detection: which local track it belongs to at which frame time.

    ``evidence`` says what the box rests on: ``"detected"`` (matched to a detection above the
    detector's score threshold), ``"low-score"`` (kept alive by a weak detection, ByteTrack's
    second pass: often a partly hidden person) or ``"predicted"`` (a frame the detector did not
    run on; the box is the motion model's). Only ``"detected"`` boxes are good enough to cut a
    Re-ID crop from.
    """

    camera_id: str
    track_id: int
    frame_index: int
    t_s: float
    detection: Detection
    evidence: str = "detected"


@dataclass(frozen=True)
class Tracklet:
    """A closed piece of one person's track in one camera, ready for association.

    ``crops_jpeg`` are JPEG bytes of crops cut from the full-resolution frame and resized
    to the model input (256x128 by default), at most 60, sampled evenly over the track.
    ``crop_times_s`` are their times: one per crop, also where the crops themselves are not
    carried (a stored tracklet read without them), so the count of crops is always known.
    ``embedding`` is the mean of the embeddings of at most ``[model] crops_per_tracklet`` of the
    crops (``tracklet.builder.crops_to_embed``) made by model ``model_version`` (-1 = not embedded yet).
    """

    tracklet_id: str
    camera_id: str
    local_track_id: int
    t_start_s: float
    t_end_s: float
    frame_times_s: np.ndarray       # (N,) float64, synchronized epoch seconds
    boxes_xyxy: np.ndarray          # (N, 4) float32
    crops_jpeg: tuple[bytes, ...] = ()
    crop_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (M,) float64
    embedding: np.ndarray | None = None   # (D,) float32 or float16
    model_version: int = -1

    def __post_init__(self) -> None:
        if not self.tracklet_id or len(self.tracklet_id) > 128:
            raise WireError(f"tracklet_id: must be 1..128 chars, got {self.tracklet_id!r}")
        if not self.camera_id or len(self.camera_id) > 32:
            raise WireError(f"camera_id: must be 1..32 chars, got {self.camera_id!r}")
        if not (np.isfinite(self.t_start_s) and np.isfinite(self.t_end_s)) or self.t_end_s < self.t_start_s:
            raise WireError(f"t_start_s={self.t_start_s}, t_end_s={self.t_end_s}: need finite start <= end")
        times = _as(self.frame_times_s, np.float64, (None,), "frame_times_s")
        boxes = _as(self.boxes_xyxy, np.float32, (times.shape[0], 4), "boxes_xyxy")
        object.__setattr__(self, "frame_times_s", times)
        object.__setattr__(self, "boxes_xyxy", boxes)
        crops = tuple(self.crops_jpeg)
        if len(crops) > MAX_CROPS:
            raise WireError(f"crops_jpeg: {len(crops)} crops, at most {MAX_CROPS}")
        for i, c in enumerate(crops):
            if not isinstance(c, (bytes, bytearray)) or len(c) > MAX_CROP_BYTES:
                raise WireError(f"crops_jpeg[{i}]: must be bytes up to {MAX_CROP_BYTES}")
        object.__setattr__(self, "crops_jpeg", tuple(bytes(c) for c in crops))
        ctimes = _as(self.crop_times_s, np.float64, (None,), "crop_times_s")
        if crops and ctimes.shape[0] not in (0, len(crops)):
            raise WireError(f"crop_times_s: {ctimes.shape[0]} times for {len(crops)} crops")
        if ctimes.shape[0] > MAX_CROPS:
            raise WireError(f"crop_times_s: {ctimes.shape[0]} times, at most {MAX_CROPS}")
        object.__setattr__(self, "crop_times_s", ctimes)
        if self.embedding is not None:
            emb = np.asarray(self.embedding)
            if emb.dtype not in (np.float32, np.float16):
                emb = emb.astype(np.float32)
            emb = _as(emb, emb.dtype, (None,), "embedding")
            if not 1 <= emb.shape[0] <= MAX_EMB_DIM:
                raise WireError(f"embedding: dimension {emb.shape[0]} outside 1..{MAX_EMB_DIM}")
            object.__setattr__(self, "embedding", emb)

    @property
    def duration_s(self) -> float:
        return self.t_end_s - self.t_start_s


@dataclass(frozen=True)
class WeightsAnnouncement:
    """The trainer's word that a new model version is ready."""

    version: int
    path: str
    sha256: str
    backbone: str
    emb_dim: int
