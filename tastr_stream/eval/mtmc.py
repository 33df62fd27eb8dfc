"""Multi-camera IDF1 (the MTMC score of AI City / Metropolis) of global identities on a synthetic world.

Single-camera IDF1 asks whether a tracker keeps one id on one person within a camera; the
multi-target multi-camera (MTMC) IDF1 asks the same of the whole network: every detection in
every camera carries a global identity, and one global one-to-one mapping between true people
and global identities must explain all cameras at once. A person split into one identity per
camera, or two people merged into one identity, costs here even when every camera alone is
perfect. IDP is the share of predicted detections on the person their identity is mapped to,
IDR the share of ground-truth detections found under the person's identity, IDF1 their F1.

The standard way to get it from single-camera tooling (py-motmetrics, as in :mod:`mot`): lay
the cameras end to end as one long sequence, each camera shifted by its own frame offset so
that frame ids never collide, and score that sequence once, with true person ids as object
ids and global identity ids as hypothesis ids (a match needs IoU >= ``min_iou``). Summing
per-camera scores instead would let each camera pick its own mapping, which is exactly what
MTMC must not allow.

Conventions: a tracklet's frame time ``t`` is ground-truth frame ``round(t * fps) + 1`` (as in
:mod:`gt_match`). A tracklet without an identity is an identity of its own. People below
``min_visibility`` are ignore regions, as in MOTChallenge: a prediction on them counts neither
way. An identity is in one place at a time: where it has several boxes in one camera frame,
the box of its longest tracklet is its own and the others are predictions that match nobody
(motmetrics counts an id at most once per frame, so they cannot share the identity's id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..errors import EvalError
from ..track.similarity import iou_matrix
from ..wire.records import Tracklet


@dataclass(frozen=True)
class MtmcScores:
    idf1: float
    idp: float
    idr: float
    num_gt_detections: int
    num_predicted_detections: int
    num_gt_ids: int          # people with a scored (not ignored) detection
    num_identities: int      # global identities among the tracklets, one-tracklet ones included
    per_camera_idf1: dict[str, float]   # single-camera IDF1 of each camera with the same ids


def _hypotheses(world, tracklets: Iterable[Tracklet], assignment: Mapping[str, object]) -> tuple[dict, int]:
    """(camera -> frame -> [(hypothesis id, box_xyxy, matchable)], number of identities); ids are ints."""
    # Longest tracklet first: it claims its identity's place in a frame (see the module docstring).
    ordered = sorted(tracklets, key=lambda t: (-len(t.frame_times_s), t.t_start_s, t.tracklet_id))
    ident_ids: dict[object, int] = {}
    next_id = 0
    out: dict[str, dict[int, list]] = {cam: {} for cam in world.camera_ids}
    seen_tracklets: set[str] = set()
    for t in ordered:
        if t.camera_id not in out:
            raise EvalError(f"tracklet {t.tracklet_id}: camera {t.camera_id!r} is not in the world "
                            f"{world.camera_ids}")
        if t.tracklet_id in seen_tracklets:
            raise EvalError(f"tracklet {t.tracklet_id} given twice")
        seen_tracklets.add(t.tracklet_id)
        ident = assignment.get(t.tracklet_id)
        key = ("tracklet", t.tracklet_id) if ident is None else ("identity", ident)
        if key not in ident_ids:
            ident_ids[key], next_id = next_id, next_id + 1
        hid = ident_ids[key]
        frames = out[t.camera_id]
        for time_s, box in zip(t.frame_times_s, t.boxes_xyxy):
            rows = frames.setdefault(int(round(time_s * world.fps)) + 1, [])
            if any(h == hid for h, _, _ in rows):
                # A second box of the identity in this frame: a prediction of its own matching nobody.
                rows.append((-1, box, False))
            else:
                rows.append((hid, box, True))
    # Give the unmatchable extras fresh ids after the identities, so every id is an int.
    num_identities = next_id
    for frames in out.values():
        for rows in frames.values():
            for i, (h, box, ok) in enumerate(rows):
                if h < 0:
                    rows[i], next_id = (next_id, box, ok), next_id + 1
    return out, num_identities


def _frame_distances(gts: list, hyps: list, min_visibility: float, min_iou: float):
    """(object ids, hypothesis ids, 1 - IoU with NaN for no match), ignore regions removed."""
    kept = [g for g in gts if g.visibility >= min_visibility]
    ignored = [g for g in gts if g.visibility < min_visibility]
    boxes = np.stack([h[1] for h in hyps]) if hyps else np.zeros((0, 4))
    if ignored and hyps:
        # Match predictions to all people at once; those that land on an ignored person are dropped.
        iou = iou_matrix(np.stack([g.box_xyxy for g in kept + ignored]), boxes)
        rows, cols = linear_sum_assignment(np.where(iou >= min_iou, 1.0 - iou, 2.0))
        drop = {c for r, c in zip(rows, cols) if r >= len(kept) and iou[r, c] >= min_iou}
        hyps = [h for i, h in enumerate(hyps) if i not in drop]
        boxes = boxes[[i for i in range(len(boxes)) if i not in drop]]
    iou = iou_matrix(np.stack([g.box_xyxy for g in kept]) if kept else np.zeros((0, 4)), boxes)
    matchable = np.array([ok for _, _, ok in hyps], dtype=bool)
    dist = np.where((iou >= min_iou) & matchable[None, :], 1.0 - iou, np.nan)
    return [g.pid for g in kept], [h for h, _, _ in hyps], dist


def multi_camera_idf1(world, tracklets: Iterable[Tracklet], assignment: Mapping[str, object],
                      min_visibility: float = 0.5, min_iou: float = 0.5) -> MtmcScores:
    """Score global identities (``assignment``: tracklet id -> identity) against ``world``'s truth.

    ``world`` needs ``camera_ids``, ``fps`` and ``gt_frames(camera)`` (a ``SyntheticWorld``).
    """
    try:
        import motmetrics as mm
        import pandas as pd
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise EvalError("MTMC metrics need py-motmetrics (pip install 'tastr-stream[test]')") from e
    if not 0.0 < min_iou <= 1.0:
        raise EvalError(f"min_iou={min_iou}: must be in (0, 1]")
    hyps, num_identities = _hypotheses(world, tracklets, assignment)
    gt_by_cam = {cam: world.gt_frames(cam) for cam in world.camera_ids}
    frames_by_cam = {cam: sorted(set(gt_by_cam[cam]) | set(hyps[cam])) for cam in world.camera_ids}
    all_frames = [f for frames in frames_by_cam.values() for f in frames]
    if not all_frames:
        raise EvalError(f"nothing to score: no ground truth and no tracklets in cameras {world.camera_ids}")
    first, span = min(all_frames), max(all_frames) - min(all_frames) + 1
    metrics = ["idf1", "idp", "idr", "num_objects", "num_predictions"]
    host = mm.metrics.create()
    events, per_camera = [], {}
    gt_ids: set[int] = set()
    for k, cam in enumerate(world.camera_ids):
        acc = mm.MOTAccumulator(auto_id=False)
        for f in frames_by_cam[cam]:
            oids, hids, dist = _frame_distances(gt_by_cam[cam].get(f, []), hyps[cam].get(f, []),
                                                min_visibility, min_iou)
            if oids or hids:
                # The camera offset: camera k owns frame ids [k * span, (k + 1) * span).
                acc.update(oids, hids, dist, frameid=k * span + (f - first))
                gt_ids.update(oids)
        events.append(acc.events)
        if len(acc.events):
            per_camera[cam] = float(host.compute(acc, metrics=["idf1"], name=cam)["idf1"].iloc[0])
    if not per_camera:
        raise EvalError(f"nothing to score: only ignored people (visibility < {min_visibility}) and no tracklets")
    summary = host.compute(pd.concat(events), metrics=metrics, name="mtmc")
    row = summary.iloc[0]
    return MtmcScores(idf1=float(row["idf1"]), idp=float(row["idp"]), idr=float(row["idr"]),
                      num_gt_detections=int(row["num_objects"]),
                      num_predicted_detections=int(row["num_predictions"]),
                      num_gt_ids=len(gt_ids), num_identities=num_identities, per_camera_idf1=per_camera)
