"""Online per-camera multi-person pose tracker (PoseFlow in spirit, ByteTrack in structure).

On a frame the detector ran on (``update``):
  1. predict every track's box one frame ahead (stateless Kalman, all tracks at once);
  2. move each track's last pose with its predicted box (shift + scale) so poses are compared
     where the person should be now;
  3. first pass, confident detections (score >= ``high_score``) against every track:
     cost = 1 - (iou_weight * IoU + pose_weight * OKS), Hungarian assignment, pairs whose cost
     exceeds ``match_threshold`` rejected; the IoU is of boxes grown on every side (C-BIoU) by
     ``iou_buffer`` times the square root of the frames since the track's last match, so a
     person who moved further than the motion model guessed between two sparse detections
     still overlaps;
  4. second pass (ByteTrack), weak detections against the tracks still unmatched, on IoU alone
     (a half-hidden person's pose is unreliable, its box still is where the track predicts):
     a weak detection keeps a track alive and updates its motion, but never starts a track (but
     for a newcomer at a side, step 5: it was matched, so someone is there) and never gives a crop;
  5. a track that was leaving by a side of the picture (last box touching it, moving out) and
     is matched to a detection back inside by more than ``side_reversal`` of its width has met
     someone walking in where it walked out: the track ends, the detection starts a new one
     (a look-alike crossing at the edge of a view otherwise becomes one track of two people);
  6. update matched tracks; unmatched confident detections start tentative tracks.
On a frame the detector skipped (``predict``) every track moves by the motion model alone, and
tracks matched on the last detection frame report their predicted box (``evidence =
"predicted"``), so a tracklet's time line stays continuous at any detection rate.

Birth/death hysteresis: a track is confirmed after ``min_hits`` consecutive matched detection
frames (a single false detection never becomes a tracklet) and ends once more than
``max_misses`` frames have passed since its last match (a short occlusion does not split a
track; counted in frames, so the same setting holds at any detection rate). Ids count per
tracker instance: one tracker per camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..config.ingest import TrackConfig
from ..wire.records import Detection, TrackObservation
from . import kalman
from .similarity import buffered_iou, iou_matrix, oks_matrix, side_of

MAX_BUFFER = 1.0


@dataclass
class _Track:
    track_id: int
    mean: np.ndarray          # (8,) Kalman state
    cov: np.ndarray           # (8, 8)
    keypoints: np.ndarray     # (17, 3) last matched pose, in last matched box's frame
    box_xyxy: np.ndarray      # (4,) last matched box
    last_match_index: int     # frame index of the last matched detection
    first_index: int = 0      # frame index of the detection that started it
    hits: int = 1
    confirmed: bool = False


@dataclass(frozen=True)
class TrackerStep:
    """What one frame produced: observations of confirmed tracks, and tracks that just ended."""

    observations: list[TrackObservation] = field(default_factory=list)
    ended_track_ids: list[int] = field(default_factory=list)


def _moved_poses(tracks: list[_Track], predicted_xyxy: np.ndarray) -> np.ndarray:
    """Each track's last pose carried to its predicted box by the box's shift and scale."""
    if not tracks:
        return np.zeros((0, 17, 3))
    old = np.stack([t.box_xyxy for t in tracks]).astype(np.float64)
    kp = np.stack([t.keypoints for t in tracks]).astype(np.float64).copy()
    sx = (predicted_xyxy[:, 2] - predicted_xyxy[:, 0]) / np.maximum(old[:, 2] - old[:, 0], 1e-6)
    sy = (predicted_xyxy[:, 3] - predicted_xyxy[:, 1]) / np.maximum(old[:, 3] - old[:, 1], 1e-6)
    kp[:, :, 0] = predicted_xyxy[:, None, 0] + (kp[:, :, 0] - old[:, None, 0]) * sx[:, None]
    kp[:, :, 1] = predicted_xyxy[:, None, 1] + (kp[:, :, 1] - old[:, None, 1]) * sy[:, None]
    return kp


class PoseTracker:
    """One camera's tracker. ``update`` on each frame the detector ran on, ``predict`` on each
    frame it skipped, in frame order.

    ``high_score`` splits detections for ByteTrack's two passes; 0 (default) treats every
    detection as confident, i.e. one pass.
    """

    def __init__(self, camera_id: str, config: TrackConfig | None = None, min_keypoint_score: float = 0.3,
                 high_score: float = 0.0):
        self.camera_id = camera_id
        self.config = config or TrackConfig()
        self.min_keypoint_score = min_keypoint_score
        self.high_score = float(high_score)
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_detect_index: int | None = None
        self._frame_index: int | None = None

    @property
    def active_track_ids(self) -> list[int]:
        return [t.track_id for t in self._tracks if t.confirmed]

    def cost_matrix(self, predicted_xyxy: np.ndarray, detections: list[Detection],
                    tracks: list[_Track] | None = None) -> np.ndarray:
        tracks = self._tracks if tracks is None else tracks
        det_boxes = np.stack([d.box_xyxy for d in detections]) if detections else np.zeros((0, 4))
        det_kpts = np.stack([d.keypoints for d in detections]) if detections else np.zeros((0, 17, 3))
        iou = buffered_iou(predicted_xyxy, self._buffers(tracks), det_boxes)
        oks = oks_matrix(_moved_poses(tracks, predicted_xyxy), det_kpts, det_boxes, self.min_keypoint_score)
        w_iou, w_pose = self.config.iou_weight, self.config.pose_weight
        total = max(w_iou + w_pose, 1e-9)
        return 1.0 - (w_iou * iou + w_pose * oks) / total

    def _predict_all(self) -> np.ndarray:
        """Move every track one frame ahead; their predicted boxes (N, 4)."""
        tracks = self._tracks
        if not tracks:
            return np.zeros((0, 4))
        mean, cov = kalman.predict(np.stack([t.mean for t in tracks]), np.stack([t.cov for t in tracks]))
        for t, m, c in zip(tracks, mean, cov):
            t.mean, t.cov = m, c
        return kalman.xyah_to_xyxy(mean[:, :4])

    def predict(self, frame_index: int, t_s: float) -> TrackerStep:
        """A frame without detections: motion only. Tracks end only on detection frames."""
        predicted = self._predict_all()
        step = TrackerStep()
        moved = _moved_poses(self._tracks, predicted)
        for t, box, kps in zip(self._tracks, predicted, moved):
            if t.confirmed and t.last_match_index == self._last_detect_index:
                box = np.maximum(box, 0.0).astype(np.float32)
                if box[2] > box[0] and box[3] > box[1]:
                    det = Detection(box_xyxy=box, keypoints=kps.astype(np.float32), score=0.0)
                    step.observations.append(
                        TrackObservation(self.camera_id, t.track_id, frame_index, t_s, det, "predicted"))
        return step

    def _buffers(self, tracks: list[_Track]) -> np.ndarray:
        """Each track's IoU buffer: ``iou_buffer`` one frame after its last match, growing with the
        square root of the frames since (the motion model's error grows with the time it has
        been guessing), at most ``MAX_BUFFER``. At one detection per frame it stays the base."""
        if self._frame_index is None:
            return np.zeros(len(tracks))
        gaps = np.array([max(1, self._frame_index - t.last_match_index) for t in tracks], dtype=np.float64)
        return np.minimum(self.config.iou_buffer * np.sqrt(gaps), MAX_BUFFER)

    def _confirms(self, t: _Track, frame_index: int) -> bool:
        """``min_hits`` matched detections, or two that span as many frames: when the detector
        runs every 6th frame, waiting for 3 detections would hide everyone's first 0.4 s, while
        a false detection that matches again 0.2 s later is already rare."""
        need = self.config.min_hits
        return t.hits >= need or (t.hits >= 2 and frame_index - t.first_index >= need - 1)

    def _assign(self, cost: np.ndarray, max_cost: float) -> list[tuple[int, int]]:
        if cost.size == 0:
            return []
        rows, cols = linear_sum_assignment(cost)
        return [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] <= max_cost]

    def _came_in_where_it_left(self, t: _Track, det: Detection, frame_size: tuple[int, int] | None) -> bool:
        """Step 5: was ``t`` walking out by a side of the picture, and is ``det`` back inside by more
        than ``side_reversal`` of its width (someone walking in there)?"""
        share = self.config.side_reversal
        if not share or frame_size is None or not t.confirmed:
            return False
        last, new = t.box_xyxy, det.box_xyxy
        side = side_of(last, float(frame_size[0]), self.config.side_margin)
        back = share * max(float(new[2] - new[0]), 1.0)
        shift = float(new[0] + new[2] - last[0] - last[2]) / 2.0
        vx = float(t.mean[4])           # the motion model's x velocity: the way the track was going
        return bool((side == "right" and vx > 0 and shift < -back) or (side == "left" and vx < 0 and shift > back))

    def update(self, detections: list[Detection], frame_index: int, t_s: float,
               frame_size: tuple[int, int] | None = None) -> TrackerStep:
        """One detection frame. ``frame_size`` (width, height) lets a track that walked out by a
        side end when someone walks in there (step 5); without it that check is skipped."""
        tracks = self._tracks
        predicted = self._predict_all()
        self._frame_index = frame_index
        self._last_detect_index = frame_index
        strong = [d for d in detections if d.score >= self.high_score]
        weak = [d for d in detections if d.score < self.high_score]

        # First pass: confident detections against every track (IoU + pose).
        first = self._assign(self.cost_matrix(predicted, strong), self.config.match_threshold) \
            if tracks and strong else []
        matched_tracks = {r for r, _ in first}
        matched_strong = {c for _, c in first}
        # Second pass: weak detections against the tracks left, on IoU alone.
        second: list[tuple[int, int]] = []
        left = [i for i in range(len(tracks)) if i not in matched_tracks]
        if left and weak:
            iou = buffered_iou(predicted[left], self._buffers([tracks[i] for i in left]),
                               np.stack([d.box_xyxy for d in weak]))
            second = [(left[r], c) for r, c in self._assign(1.0 - iou, 1.0 - self.config.low_score_min_iou)]
            matched_tracks |= {r for r, _ in second}

        matches = [(r, strong[c], "detected") for r, c in first] + [(r, weak[c], "low-score") for r, c in second]
        walked_out = {r for r, det, _ in matches if self._came_in_where_it_left(tracks[r], det, frame_size)}
        newcomers = [det for r, det, _ in matches if r in walked_out]
        matches = [m for m in matches if m[0] not in walked_out]
        matched_tracks -= walked_out
        if matches:
            idx_t = np.array([r for r, _, _ in matches])
            z = kalman.xyxy_to_xyah(np.stack([d.box_xyxy for _, d, _ in matches]))
            mean, cov = kalman.update(np.stack([tracks[i].mean for i in idx_t]),
                                      np.stack([tracks[i].cov for i in idx_t]), z)
            for (r, det, _), m, cv in zip(matches, mean, cov):
                t = tracks[r]
                t.mean, t.cov = m, cv
                t.keypoints = det.keypoints
                t.box_xyxy = det.box_xyxy
                t.hits += 1
                t.last_match_index = frame_index
                if self._confirms(t, frame_index):
                    t.confirmed = True

        step = TrackerStep()
        survivors: list[_Track] = []
        for i, t in enumerate(tracks):
            if i not in matched_tracks:
                if not t.confirmed or i in walked_out or frame_index - t.last_match_index > self.config.max_misses:
                    if t.confirmed:
                        step.ended_track_ids.append(t.track_id)
                    continue
            survivors.append(t)

        for r, det, evidence in sorted(matches, key=lambda m: m[0]):
            t = tracks[r]
            if t.confirmed:
                step.observations.append(TrackObservation(self.camera_id, t.track_id, frame_index, t_s, det, evidence))

        for det in [d for j, d in enumerate(strong) if j not in matched_strong] + newcomers:
            m, cv = kalman.initiate(kalman.xyxy_to_xyah(det.box_xyxy[None]))
            t = _Track(self._next_id, m[0], cv[0], det.keypoints, det.box_xyxy, frame_index, frame_index)
            self._next_id += 1
            if self.config.min_hits <= 1:
                t.confirmed = True
                step.observations.append(TrackObservation(self.camera_id, t.track_id, frame_index, t_s, det))
            survivors.append(t)
        self._tracks = survivors
        return step

    def finish(self) -> TrackerStep:
        """End of stream: every confirmed track ends now."""
        ended = [t.track_id for t in self._tracks if t.confirmed]
        self._tracks = []
        return TrackerStep(ended_track_ids=ended)
