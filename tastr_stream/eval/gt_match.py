"""Label live tracklets with ground-truth identities of a synthetic world, for reports and tests.

A tracklet built by real detection and tracking has no identity; its boxes are matched, frame
by frame, to the world's ground-truth boxes (IoU >= ``min_iou``) and the identity that wins a
``min_purity`` majority of its matched frames becomes its label (-1 when none does).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

import numpy as np

from ..track.similarity import iou_matrix
from ..wire.records import Tracklet
from .protocol import TrackletMeta


def majority_pid(gt_frames: dict, fps: float, tracklet: Tracklet, min_iou: float = 0.5) -> tuple[int, float]:
    """(pid, share of matched frames) for the identity most of the tracklet's boxes overlap."""
    votes: collections.Counter = collections.Counter()
    for t, box in zip(tracklet.frame_times_s, tracklet.boxes_xyxy):
        gts = gt_frames.get(int(round(t * fps)) + 1, [])
        if not gts:
            continue
        ious = iou_matrix(box[None], np.stack([g.box_xyxy for g in gts]))[0]
        if ious.max() >= min_iou:
            votes[gts[int(ious.argmax())].pid] += 1
    if not votes:
        return -1, 0.0
    pid, n = votes.most_common(1)[0]
    return int(pid), n / sum(votes.values())


def label_tracklets(world, tracklets: Iterable[Tracklet], min_purity: float = 0.6) -> list[TrackletMeta]:
    """Ground-truth metadata (pid or -1) for each tracklet, ready for ``evaluate_pairs``."""
    frames_by_cam: dict[str, dict] = {}
    out = []
    for t in tracklets:
        if t.camera_id not in frames_by_cam:
            frames_by_cam[t.camera_id] = world.gt_frames(t.camera_id)
        pid, share = majority_pid(frames_by_cam[t.camera_id], world.fps, t)
        out.append(TrackletMeta(t.tracklet_id, pid if share >= min_purity else -1, t.camera_id,
                                int(round(t.t_start_s * world.fps)), int(round(t.t_end_s * world.fps))))
    return out
