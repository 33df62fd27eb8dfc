"""Oracle-tracking crops from a rendered synthetic world: one tracklet per visit, cached as .npz."""

import numpy as np
import pytest

from tastr_stream.datasets.synthetic import SyntheticWorld
from tastr_stream.sim.world import render_world
from tastr_stream.train.sources import detect_kind
from tastr_stream.train.world_crops import CropSettings, load_world_tracklets, world_experiment


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return render_world(tmp_path_factory.mktemp("w") / "world", cameras=2, people=4, distractors=1, minutes=0.5,
                        resolution=(320, 180), fps=10, seed=3, workers=1, progress=False)


def test_one_tracklet_per_usable_visit_with_gt_identity(world):
    settings = CropSettings(crop_hw=(32, 16), frame_step=3, max_images=5, min_images=2, min_box_height_px=16)
    w, tracks = load_world_tracklets(world, settings)
    assert detect_kind(world) == "synthetic"
    assert tracks, "no usable visit in the test world"
    visits = {(v.pid, v.camera_id, v.first_frame): v for v in SyntheticWorld.open(world).visits}
    for t in tracks:
        pid = int(t.tracklet_id.split(":p")[1].split("f")[0])
        v = visits[(pid, t.camera_id, int(t.tracklet_id.rsplit("f", 1)[1]))]
        assert t.pid_gt == v.pid
        assert t.t_start_s == pytest.approx(w.frame_time_s(v.first_frame))
        assert settings.min_images <= t.num_images <= settings.max_images
        assert all(im.shape == (32, 16, 3) and im.dtype == np.uint8 for im in t.images)
        assert float(np.std(t.images[0])) > 1.0          # a real crop, not a blank
    cache = list((world / "cache").glob("train-crops-*.npz"))
    assert len(cache) == 1
    mtime = cache[0].stat().st_mtime_ns
    _, again = load_world_tracklets(world, settings)
    assert cache[0].stat().st_mtime_ns == mtime          # served from the cache
    assert [t.tracklet_id for t in again] == [t.tracklet_id for t in tracks]
    assert all(np.array_equal(a.images[0], b.images[0]) for a, b in zip(again, tracks))


def test_corrupt_cache_is_rebuilt(world):
    settings = CropSettings(crop_hw=(32, 16), max_images=3, min_images=2, min_box_height_px=16)
    _, tracks = load_world_tracklets(world, settings)
    path = world / "cache" / f"train-crops-{settings.key()}.npz"
    path.write_bytes(b"garbage")
    _, again = load_world_tracklets(world, settings)
    assert len(again) == len(tracks)


def test_experiment_split_uses_world_network(world):
    settings = CropSettings(crop_hw=(32, 16), max_images=3, min_images=2, min_box_height_px=16)
    data = world_experiment(world, settings, split_fraction=0.5)
    _, tracks = load_world_tracklets(world, settings)
    lo, hi = min(t.t_start_s for t in tracks), max(t.t_end_s for t in tracks)
    assert data.network.camera_ids == SyntheticWorld.open(world).camera_ids
    assert {t.tracklet_id for t in data.train} == {t.tracklet_id for t in tracks if t.t_start_s < lo + 0.5 * (hi - lo)}
