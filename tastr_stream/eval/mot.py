"""Multi-object tracking quality (IDF1, MOTA, ID switches) of a tracker against a synthetic world.

Uses py-motmetrics (imported lazily: it is a test/benchmark dependency, not a runtime one).
Ground-truth people below ``min_visibility`` are left out of the ground truth; a tracker output
matched to nobody counts as a false positive, as in the MOTChallenge protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import EvalError
from ..track import PoseTracker
from ..track.similarity import iou_matrix
from ..wire.records import Detection


@dataclass(frozen=True)
class MotResult:
    idf1: float
    mota: float
    id_switches: int
    num_frames: int
    num_gt_ids: int
    num_tracks: int


def evaluate_tracker(gt_frames: dict, num_frames: int, detect: Callable[[int], list[Detection]],
                     tracker: PoseTracker, fps: float, min_visibility: float = 0.5,
                     frame_step: int = 1) -> MotResult:
    """Run ``tracker`` over ``detect(frame_index_0based)`` and score it with motmetrics.

    ``gt_frames`` is ``SyntheticWorld.gt_frames(camera)`` (1-based MOT frame numbers).
    ``frame_step`` > 1 simulates a detector that only keeps up with every n-th frame.
    """
    try:
        import motmetrics as mm
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise EvalError("tracking metrics need py-motmetrics (pip install 'tastr-stream[test]')") from e
    acc = mm.MOTAccumulator(auto_id=True)
    track_ids: set[int] = set()
    gt_ids: set[int] = set()
    frames = range(0, num_frames, frame_step)
    for f in frames:
        step = tracker.update(detect(f), f, f / fps)
        gts = [g for g in gt_frames.get(f + 1, []) if g.visibility >= min_visibility]
        hyp = step.observations
        gt_ids.update(g.pid for g in gts)
        track_ids.update(o.track_id for o in hyp)
        # Our IoU (motmetrics 1.4's iou_matrix uses np.asfarray, gone in NumPy 2): 1 - IoU,
        # NaN (no match possible) below IoU 0.5, as mm.distances.iou_matrix(max_iou=0.5) gives.
        iou = iou_matrix(np.stack([g.box_xyxy for g in gts]) if gts else np.zeros((0, 4)),
                         np.stack([o.detection.box_xyxy for o in hyp]) if hyp else np.zeros((0, 4)))
        dist = np.where(iou >= 0.5, 1.0 - iou, np.nan)
        acc.update([g.pid for g in gts], [o.track_id for o in hyp], dist)
    summary = mm.metrics.create().compute(acc, metrics=["idf1", "mota", "num_switches"], name="all")
    return MotResult(idf1=float(summary["idf1"].iloc[0]), mota=float(summary["mota"].iloc[0]),
                     id_switches=int(summary["num_switches"].iloc[0]), num_frames=len(frames),
                     num_gt_ids=len(gt_ids), num_tracks=len(track_ids))
