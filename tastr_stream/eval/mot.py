"""Multi-object tracking quality (IDF1, MOTA, ID switches) of a tracker against a synthetic world.

Uses py-motmetrics (imported lazily: it is a test/benchmark dependency, not a runtime one).
Ground-truth people below ``min_visibility`` are left out of the ground truth; a tracker output
matched to nobody counts as a false positive, as in the MOTChallenge protocol.
"""

from __future__ import annotations

import math
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
    visits: int = 0                  # ground-truth visits (a person's unbroken stay in the view)
    tracks_per_visit: float = math.nan  # distinct tracks matched to a visit, mean over matched visits
    detected_frames: int = 0
    mixed_tracks: int = 0            # tracks that hold a second person for >= 10 % (and 3) of their matched frames


def _visits(gt_frames: dict, num_frames: int, min_visibility: float, gap_frames: int) -> dict[tuple, int]:
    """``{(pid, frame0): visit number}``: a visit ends when a person is unseen for ``gap_frames``."""
    last_seen: dict = {}
    visit_of: dict = {}
    out: dict[tuple, int] = {}
    count = 0
    for f in range(num_frames):
        for g in gt_frames.get(f + 1, []):
            if g.visibility < min_visibility:
                continue
            if g.pid not in last_seen or f - last_seen[g.pid] > gap_frames:
                visit_of[g.pid] = count
                count += 1
            last_seen[g.pid] = f
            out[(g.pid, f)] = visit_of[g.pid]
    return out


def evaluate_tracker(gt_frames: dict, num_frames: int, detect: Callable[[int], list[Detection]],
                     tracker: PoseTracker, fps: float, min_visibility: float = 0.5,
                     rate_hz: float = 0.0, visit_gap_s: float = 2.0,
                     frame_size: tuple[int, int] | None = None) -> MotResult:
    """Run ``tracker`` over ``detect(frame_index_0based)`` and score it with motmetrics.

    ``gt_frames`` is ``SyntheticWorld.gt_frames(camera)`` (1-based MOT frame numbers).
    ``rate_hz`` > 0 detects on a schedule as ingest does (:class:`DetectionSchedule`): the tracker
    predicts on the frames between, and its predicted boxes are scored like any other. Besides
    IDF1/MOTA it counts fragmentation: the distinct tracks matched to each ground-truth visit (a
    person's unbroken stay in the view; unseen for ``visit_gap_s`` ends it), which is what
    splits one pass through a camera into several tracklets downstream, and the tracks that
    jumped from one person to another (``mixed_tracks``), which join two people downstream.
    ``frame_size`` (width, height) is given to the tracker as ingest gives it.
    """
    try:
        import motmetrics as mm
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise EvalError("tracking metrics need py-motmetrics (pip install 'tastr-stream[test]')") from e
    from scipy.optimize import linear_sum_assignment

    from ..detect.schedule import DetectionSchedule

    schedule = DetectionSchedule(rate_hz, min(1.0, rate_hz) if rate_hz else 1.0)
    visit_of = _visits(gt_frames, num_frames, min_visibility, max(1, round(visit_gap_s * fps)))
    tracks_of_visit: dict[int, set[int]] = {}
    people_of_track: dict[int, dict[int, int]] = {}
    acc = mm.MOTAccumulator(auto_id=True)
    track_ids: set[int] = set()
    gt_ids: set[int] = set()
    for f in range(num_frames):
        t_s = f / fps
        if schedule.due(t_s):
            step = tracker.update(detect(f), f, t_s, frame_size=frame_size)
        else:
            step = tracker.predict(f, t_s)
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
        if iou.size:
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows, cols):
                if iou[r, c] >= 0.5:
                    tracks_of_visit.setdefault(visit_of[(gts[r].pid, f)], set()).add(hyp[c].track_id)
                    frames = people_of_track.setdefault(hyp[c].track_id, {})
                    frames[gts[r].pid] = frames.get(gts[r].pid, 0) + 1
    summary = mm.metrics.create().compute(acc, metrics=["idf1", "mota", "num_switches"], name="all")
    per_visit = [len(v) for v in tracks_of_visit.values()]
    mixed = 0
    for frames in people_of_track.values():
        counts = sorted(frames.values())
        if len(counts) > 1 and counts[-2] >= 3 and counts[-2] >= 0.1 * sum(counts):
            mixed += 1
    return MotResult(idf1=float(summary["idf1"].iloc[0]), mota=float(summary["mota"].iloc[0]),
                     id_switches=int(summary["num_switches"].iloc[0]), num_frames=num_frames,
                     num_gt_ids=len(gt_ids), num_tracks=len(track_ids),
                     visits=len(set(visit_of.values())),
                     tracks_per_visit=float(np.mean(per_visit)) if per_visit else math.nan,
                     detected_frames=schedule.detections, mixed_tracks=mixed)
