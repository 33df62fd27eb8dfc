"""Tracking quality on synthetic-world ground truth, held by a floor (figures in RESULTS.md).

Detections come from the oracle detector with box noise, misses and drop-outs, so the test
isolates the tracker: it guards against identity switches and fragmentation creeping in.
"""

from __future__ import annotations

import pytest

from tastr_stream.config.ingest import TrackConfig
from tastr_stream.datasets.synthetic import SyntheticWorld
from tastr_stream.detect.oracle import OracleDetector, OracleOptions
from tastr_stream.eval.mot import evaluate_tracker
from tastr_stream.track import PoseTracker


@pytest.fixture(scope="module")
def world(small_world):
    return SyntheticWorld.open(small_world)


@pytest.mark.parametrize("noise, miss", [(0.02, 0.0), (0.05, 0.1)])
def test_tracker_idf1_and_mota_floor(world, noise, miss):
    results = []
    for cam in world.camera_ids:
        gt = world.gt_frames(cam)
        oracle = OracleDetector(gt, OracleOptions(box_noise=noise, miss_rate=miss, min_visibility=0.3, seed=1))
        res = evaluate_tracker(gt, world.num_frames, lambda f: oracle.detect(frame_index=f),
                               PoseTracker(cam, TrackConfig()), world.fps)
        results.append(res)
        print(f"{cam} noise={noise} miss={miss}: IDF1={res.idf1:.3f} MOTA={res.mota:.3f} "
              f"IDsw={res.id_switches} gt_ids={res.num_gt_ids} tracks={res.num_tracks}")
    for res in results:
        assert res.idf1 >= 0.75 and res.mota >= 0.6, res


def test_detection_at_5hz_keeps_idf1_near_every_frame(world):
    """Issue 12's bar: detecting every 6th frame of a 30 fps camera costs < 0.05 IDF1 (mean over
    cameras; measured 0.905 -> 0.867 here), and does not split visits into many tracks."""
    assert world.fps == 30
    by_rate = {}
    for rate in (0.0, 5.0):
        rows = []
        for cam in world.camera_ids:
            gt = world.gt_frames(cam)
            oracle = OracleDetector(gt, OracleOptions(box_noise=0.02, min_visibility=0.3, seed=1))
            rows.append(evaluate_tracker(gt, world.num_frames, lambda f: oracle.detect(frame_index=f),
                                         PoseTracker(cam, TrackConfig()), world.fps, rate_hz=rate))
        by_rate[rate] = rows
    idf1 = {r: sum(x.idf1 for x in rows) / len(rows) for r, rows in by_rate.items()}
    assert by_rate[5.0][0].detected_frames == len(range(0, world.num_frames, 6))
    assert idf1[0.0] - idf1[5.0] < 0.05, idf1
    assert max(x.tracks_per_visit for x in by_rate[5.0]) <= 1.5
