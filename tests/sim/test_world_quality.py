"""configs/world_quality.toml, the fixed world of benchmarks/bench_quality.py (issue 10).

Guards against: a spec the world-spec reader rejects or misreads (TOML arrays for the tuple
fields), and a world in which too few walkers cross two cameras for linking quality to mean
anything. Only the plan is built; nothing is rendered.
"""

from __future__ import annotations

import numpy as np
import pytest

from tastr_stream.errors import DatasetError
from tastr_stream.sim import WorldSpec
from tastr_stream.sim.plan import plan_world
from tastr_stream.train.sources import world_spec_settings


def test_world_quality_spec_is_valid_and_crosses_cameras(tmp_path):
    spec = WorldSpec(**world_spec_settings("configs/world_quality.toml")).validated()
    assert (spec.cameras, spec.people, spec.minutes, spec.resolution, spec.fps, spec.seed) == \
        (6, 80, 10.0, (640, 360), 6, 0)
    assert (spec.path_range_m, spec.speed_std_mps, spec.speed_range_mps) == ((20.0, 60.0), 0.2, (0.8, 1.9))
    assert (spec.detour_prob, spec.detour_mean_s, spec.path_error, spec.path_error_fraction) == (0.15, 20.0, 0.3, 0.5)
    plan = plan_world(cameras=spec.cameras, people=spec.people, distractors=spec.distractors,
                      duration_s=spec.duration_s, aspect=16 / 9, seed=spec.seed, path_range_m=spec.path_range_m,
                      speed_std_mps=spec.speed_std_mps, speed_range_mps=spec.speed_range_mps,
                      detour_prob=spec.detour_prob, detour_mean_s=spec.detour_mean_s, path_error=spec.path_error,
                      path_error_fraction=spec.path_error_fraction)
    cams = {}
    for v in plan.visits:
        cams.setdefault(v.pid, set()).add(v.camera)
    walkers = [p.pid for p in plan.people if p.kind == "walker"]
    assert np.mean([len(cams.get(pid, ())) >= 2 for pid in walkers]) > 0.8
    typo = tmp_path / "typo.toml"
    typo.write_text("[synthetic_world]\ndetour_probability = 0.1\n")
    with pytest.raises(DatasetError, match="detour_probability"):
        world_spec_settings(typo)
