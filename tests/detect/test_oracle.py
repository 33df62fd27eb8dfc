"""Oracle detector: ground truth degraded by seeded noise, misses and fragmentation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tastr_stream.detect.hog import skeleton_from_box
from tastr_stream.detect.oracle import OracleDetector, OracleOptions
from tastr_stream.errors import ConfigError, DatasetError

FRAMES = 600
PIDS = (1, 2, 3, 4)


@dataclass(frozen=True)
class GtBox:   # the shape of tastr_stream.datasets.synthetic.GtBox
    pid: int
    box_xyxy: np.ndarray
    keypoints: np.ndarray
    visibility: float


def _gt() -> dict[int, list[GtBox]]:
    frames: dict[int, list[GtBox]] = {}
    for f in range(1, FRAMES + 1):
        row = []
        for pid in PIDS:
            box = np.array([100 * pid + f * 0.5, 200, 100 * pid + 60 + f * 0.5, 380], dtype=np.float32)
            kps = skeleton_from_box(box, 2.0)          # COCO flag 2 = visible
            row.append(GtBox(pid, box, kps, visibility=0.1 if pid == 4 else 1.0))
        frames[f] = row
    return frames


def _track(det: OracleDetector, pid_x: float) -> np.ndarray:
    """Per frame: 1 if the person starting at x=pid_x was detected."""
    hits = np.zeros(FRAMES, dtype=int)
    for f in range(1, FRAMES + 1):
        hits[f - 1] = any(abs(d.box_xyxy[0] - (pid_x + f * 0.5)) < 30 for d in det.detect(frame_index=f - 1))
    return hits


def test_noise_free_oracle_is_ground_truth_minus_hidden_people():
    gt = _gt()
    det = OracleDetector(gt, OracleOptions(box_noise=0.0))
    out = det.detect(np.zeros((720, 1280, 3), np.uint8), frame_index=9)
    assert len(out) == 3                       # pid 4 is 10% visible, under min_visibility
    np.testing.assert_array_equal(out[0].box_xyxy, gt[10][0].box_xyxy)
    assert (out[0].keypoints[:, 2] == 1.0).all()   # COCO flag 2 -> score 1
    assert det.detect(frame_index=FRAMES + 5) == []
    # frame_index is the decoder's 0-based number: ground-truth frame 1 is frame_index 0
    assert OracleDetector(gt, OracleOptions(box_noise=0.0)).detect(frame_index=0)[0].box_xyxy[0] == gt[1][0].box_xyxy[0]


def test_keypoint_flags_become_scores():
    gt = _gt()
    kps = gt[1][0].keypoints.copy()
    kps[0, 2], kps[1, 2] = 0, 1                   # nose outside the frame, left eye hidden
    gt[1][0] = GtBox(1, gt[1][0].box_xyxy, kps, 1.0)
    (first, *_) = OracleDetector(gt, OracleOptions(box_noise=0.0)).detect(frame_index=0)
    assert first.keypoints[:3, 2].tolist() == pytest.approx([0.0, 0.4, 1.0])


def test_box_noise_scales_with_size_and_is_reproducible():
    gt = _gt()
    a = OracleDetector(gt, OracleOptions(box_noise=0.05, seed=3))
    b = OracleDetector(gt, OracleOptions(box_noise=0.05, seed=3))
    c = OracleDetector(gt, OracleOptions(box_noise=0.05, seed=4))
    # read b backwards: randomness is keyed by (person, frame), not call order
    b_rev = {f: b.detect(frame_index=f - 1) for f in range(FRAMES, 0, -1)}
    diffs = []
    for f in range(1, FRAMES + 1):
        da = a.detect(frame_index=f - 1)
        np.testing.assert_array_equal(da[0].box_xyxy, b_rev[f][0].box_xyxy)
        diffs.append(da[0].box_xyxy - gt[f][0].box_xyxy)
    diffs = np.array(diffs)
    # x noise ~ 0.05 * 60 px = 3 px, y noise ~ 0.05 * 180 px = 9 px
    assert 2.5 < diffs[:, 0].std() < 3.5 and 7.5 < diffs[:, 1].std() < 10.5
    assert not np.array_equal(c.detect(frame_index=0)[0].box_xyxy, a.detect(frame_index=0)[0].box_xyxy)


def test_miss_rate_drops_that_fraction():
    det = OracleDetector(_gt(), OracleOptions(box_noise=0.0, miss_rate=0.3, seed=1))
    hits = np.concatenate([_track(det, 100 * pid) for pid in PIDS[:3]])
    assert 0.65 < hits.mean() < 0.75


def test_fragmentation_drops_runs_of_frames():
    opts = OracleOptions(box_noise=0.0, fragment_rate=0.8, fragment_block_frames=60, fragment_max_frames=20, seed=2)
    hits = _track(OracleDetector(_gt(), opts), 100)
    gaps = np.diff(np.flatnonzero(np.diff(np.r_[1, hits, 1]) != 0))[::2]   # lengths of runs of zeros
    assert len(gaps) >= 4                      # ~0.8 * 10 blocks start a dropout
    assert gaps.max() > 1 and gaps.max() <= 40   # runs, up to two overlapping 20-frame runs
    plain = _track(OracleDetector(_gt(), OracleOptions(box_noise=0.0, seed=2)), 100)
    assert plain.all()


def test_frame_index_is_required_and_options_are_validated():
    det = OracleDetector(_gt())
    with pytest.raises(DatasetError, match="frame_index"):
        det.detect(np.zeros((720, 1280, 3), np.uint8))
    with pytest.raises(DatasetError, match="got -1"):
        det.detect(frame_index=-1)
    with pytest.raises(ConfigError, match="miss_rate=1.5"):
        OracleOptions(miss_rate=1.5)
    with pytest.raises(ConfigError, match="fragment_max_frames=100"):
        OracleOptions(fragment_max_frames=100, fragment_block_frames=90)
