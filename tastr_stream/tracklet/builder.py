"""Turn a camera's track observations into closed tracklets with sampled crops.

A tracklet keeps a crop at most every ``crop_every_n_frames`` frames (3 = 0.1 s at 30 fps, as the
paper samples), only from observations a confident detection backs (never from a box the
tracker predicted on a frame the detector skipped, nor from a weak detection kept by the
second pass), at most ``max_crops`` (60) sampled evenly over its whole duration. Predicted
observations after the last detected one are trimmed when the tracklet closes, so its end time
is the last time someone was seen, not guessed. Memory stays bounded
for arbitrarily long tracks: candidates are kept at a stride that doubles whenever the buffer
holds twice the cap, then the final set is an even subsample. A tracklet closes when its track
ends or reaches ``max_duration_s``; a long track then continues as a new tracklet.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..config.ingest import TrackletConfig
from ..wire.records import TrackObservation, Tracklet
from .crops import cut_crop, encode_jpeg

if TYPE_CHECKING:
    from ..decode.frame import Frame


@dataclass
class _Open:
    track_id: int
    segment: int
    times_s: list[float] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    crops: list[tuple[float, np.ndarray]] = field(default_factory=list)
    seen_for_crop: int = 0   # observations that were crop candidates
    stride: int = 1          # keep every stride-th candidate
    last_candidate_index: int | None = None  # frame index of the last crop candidate
    last_detected: int = 0   # len(times_s) up to the last observation a detection backed


def even_subsample(n: int, k: int) -> np.ndarray:
    """Indices of ``k`` items spread evenly over ``n`` (all of them when n <= k)."""
    if n <= k:
        return np.arange(n)
    return np.round(np.linspace(0, n - 1, k)).astype(int)


def crops_to_embed(crops: Sequence[bytes], k: int) -> list[bytes]:
    """The crops a tracklet's embedding averages: at most ``k``, spread evenly over the tracklet
    (``[model] crops_per_tracklet``). One rule for the edge and for every re-embedding, so two
    embeddings of one tracklet by one model are equal wherever they were made."""
    return [crops[i] for i in even_subsample(len(crops), k)]


class TrackletBuilder:
    """One camera's builder. Feed it each frame's tracker output together with the frame."""

    def __init__(self, camera_id: str, config: TrackletConfig | None = None, session: str | None = None):
        self.camera_id = camera_id
        self.config = config or TrackletConfig()
        # A fresh session tag per ingest start keeps tracklet ids unique across restarts.
        self.session = session or secrets.token_hex(3)
        self._open: dict[int, _Open] = {}
        self.dropped_short = 0

    def _tracklet_id(self, o: _Open) -> str:
        suffix = f".{o.segment}" if o.segment else ""
        return f"{self.camera_id}:{self.session}:{o.track_id}{suffix}"

    def add(self, frame_bgr: np.ndarray | Frame | None, observations: list[TrackObservation],
            ended_track_ids: list[int]) -> list[Tracklet]:
        """Record this frame's observations; return tracklets that closed on this frame.

        ``frame_bgr`` is the frame's BGR array or the decoded ``Frame`` itself (crops then convert
        only their own pixels); it may be None when no observation is ``"detected"``."""
        cfg = self.config
        closed: list[Tracklet] = []
        for obs in observations:
            o = self._open.get(obs.track_id)
            if o is None:
                o = self._open[obs.track_id] = _Open(obs.track_id, 0)
            elif obs.t_s - o.times_s[0] >= cfg.max_duration_s:
                done = self._close(o)
                if done is not None:
                    closed.append(done)
                o = self._open[obs.track_id] = _Open(obs.track_id, o.segment + 1)
            o.times_s.append(obs.t_s)
            o.boxes.append(obs.detection.box_xyxy)
            if obs.evidence != "predicted":
                o.last_detected = len(o.times_s)
            if obs.evidence == "detected" and (o.last_candidate_index is None or
                                               obs.frame_index - o.last_candidate_index >= cfg.crop_every_n_frames):
                if frame_bgr is None:
                    raise ValueError(f"track {obs.track_id} frame {obs.frame_index}: a detected observation "
                                     f"needs the frame to cut its crop from")
                o.last_candidate_index = obs.frame_index
                if o.seen_for_crop % o.stride == 0:
                    crop = cut_crop(frame_bgr, obs.detection.box_xyxy, (cfg.crop_height, cfg.crop_width),
                                    blur_head=cfg.blur_heads, keypoints=obs.detection.keypoints)
                    if crop is not None:
                        o.crops.append((obs.t_s, crop))
                o.seen_for_crop += 1
                if len(o.crops) >= 2 * cfg.max_crops:
                    o.crops = o.crops[::2]
                    o.stride *= 2
        for track_id in ended_track_ids:
            o = self._open.pop(track_id, None)
            if o is not None:
                done = self._close(o)
                if done is not None:
                    closed.append(done)
        return closed

    def flush(self) -> list[Tracklet]:
        """End of stream: close everything still open."""
        out = [t for t in (self._close(o) for o in self._open.values()) if t is not None]
        self._open.clear()
        return out

    @property
    def open_count(self) -> int:
        return len(self._open)

    def _close(self, o: _Open) -> Tracklet | None:
        del o.times_s[o.last_detected:], o.boxes[o.last_detected:]   # trailing predictions
        if len(o.times_s) < self.config.min_frames or not o.crops:
            self.dropped_short += 1
            return None
        keep = even_subsample(len(o.crops), self.config.max_crops)
        crops = [o.crops[i] for i in keep]
        return Tracklet(
            tracklet_id=self._tracklet_id(o),
            camera_id=self.camera_id,
            local_track_id=o.track_id,
            t_start_s=o.times_s[0],
            t_end_s=o.times_s[-1],
            frame_times_s=np.asarray(o.times_s),
            boxes_xyxy=np.stack(o.boxes),
            crops_jpeg=tuple(encode_jpeg(c, self.config.jpeg_quality) for _, c in crops),
            crop_times_s=np.asarray([t for t, _ in crops]),
        )
