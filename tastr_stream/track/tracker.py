"""Online per-camera multi-person pose tracker (PoseFlow in spirit, ByteTrack in structure).

Each frame:
  1. predict every track's box one frame ahead (stateless Kalman, all tracks at once);
  2. move each track's last pose with its predicted box (shift + scale) so poses are compared
     where the person should be now;
  3. cost = 1 - (iou_weight * IoU + pose_weight * OKS) between tracks and detections;
  4. Hungarian assignment, rejecting pairs whose cost exceeds ``match_threshold``;
  5. update matched tracks; unmatched detections start tentative tracks; unmatched tracks
     count a miss.
Birth/death hysteresis: a track is confirmed after ``min_hits`` consecutive matches (a single
false detection never becomes a tracklet) and ends after ``max_misses`` frames unmatched (a
short occlusion does not split a track). Ids count per tracker instance: one tracker per camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..config.ingest import TrackConfig
from ..wire.records import Detection, TrackObservation
from . import kalman
from .similarity import iou_matrix, oks_matrix


@dataclass
class _Track:
    track_id: int
    mean: np.ndarray          # (8,) Kalman state
    cov: np.ndarray           # (8, 8)
    keypoints: np.ndarray     # (17, 3) last matched pose, in last matched box's frame
    box_xyxy: np.ndarray      # (4,) last matched box
    hits: int = 1
    misses: int = 0
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
    """One camera's tracker. ``update`` once per decoded frame, in frame order."""

    def __init__(self, camera_id: str, config: TrackConfig | None = None, min_keypoint_score: float = 0.3):
        self.camera_id = camera_id
        self.config = config or TrackConfig()
        self.min_keypoint_score = min_keypoint_score
        self._tracks: list[_Track] = []
        self._next_id = 1

    @property
    def active_track_ids(self) -> list[int]:
        return [t.track_id for t in self._tracks if t.confirmed]

    def cost_matrix(self, predicted_xyxy: np.ndarray, detections: list[Detection]) -> np.ndarray:
        det_boxes = np.stack([d.box_xyxy for d in detections]) if detections else np.zeros((0, 4))
        det_kpts = np.stack([d.keypoints for d in detections]) if detections else np.zeros((0, 17, 3))
        iou = iou_matrix(predicted_xyxy, det_boxes)
        oks = oks_matrix(_moved_poses(self._tracks, predicted_xyxy), det_kpts, det_boxes, self.min_keypoint_score)
        w_iou, w_pose = self.config.iou_weight, self.config.pose_weight
        total = max(w_iou + w_pose, 1e-9)
        return 1.0 - (w_iou * iou + w_pose * oks) / total

    def update(self, detections: list[Detection], frame_index: int, t_s: float) -> TrackerStep:
        tracks = self._tracks
        if tracks:
            mean = np.stack([t.mean for t in tracks])
            cov = np.stack([t.cov for t in tracks])
            mean, cov = kalman.predict(mean, cov)
            for t, m, c in zip(tracks, mean, cov):
                t.mean, t.cov = m, c
            predicted = kalman.xyah_to_xyxy(mean[:, :4])
        else:
            predicted = np.zeros((0, 4))

        matches: list[tuple[int, int]] = []
        if tracks and detections:
            cost = self.cost_matrix(predicted, detections)
            rows, cols = linear_sum_assignment(cost)
            matches = [(r, c) for r, c in zip(rows, cols) if cost[r, c] <= self.config.match_threshold]
        matched_tracks = {r for r, _ in matches}
        matched_dets = {c for _, c in matches}

        if matches:
            idx_t = np.array([r for r, _ in matches])
            z = kalman.xyxy_to_xyah(np.stack([detections[c].box_xyxy for _, c in matches]))
            mean, cov = kalman.update(np.stack([tracks[i].mean for i in idx_t]),
                                      np.stack([tracks[i].cov for i in idx_t]), z)
            for (r, c), m, cv in zip(matches, mean, cov):
                t = tracks[r]
                t.mean, t.cov = m, cv
                t.keypoints = detections[c].keypoints
                t.box_xyxy = detections[c].box_xyxy
                t.hits += 1
                t.misses = 0
                if t.hits >= self.config.min_hits:
                    t.confirmed = True

        step = TrackerStep()
        survivors: list[_Track] = []
        for i, t in enumerate(tracks):
            if i not in matched_tracks:
                t.misses += 1
                if not t.confirmed or t.misses > self.config.max_misses:
                    if t.confirmed:
                        step.ended_track_ids.append(t.track_id)
                    continue
            survivors.append(t)

        for r, c in matches:
            t = tracks[r]
            if t.confirmed:
                step.observations.append(TrackObservation(self.camera_id, t.track_id, frame_index, t_s, detections[c]))

        for j, det in enumerate(detections):
            if j in matched_dets:
                continue
            m, cv = kalman.initiate(kalman.xyxy_to_xyah(det.box_xyxy[None]))
            t = _Track(self._next_id, m[0], cv[0], det.keypoints, det.box_xyxy)
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
