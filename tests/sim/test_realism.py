"""Realism about time: spread walking speeds, stops and detours between cameras, and path lengths
configured wrongly in network.toml.

Guards against: the options leaking into a default world (the demo world, cached worlds and every
test built on them would silently change, and cached renders would be thrown away), detours that
shorten a hop, and a path-length error that moves people instead of only the configuration the
associator is given.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import tomllib

import numpy as np
import pytest

from tastr_stream.config import config_from_dict
from tastr_stream.errors import ConfigError
from tastr_stream.sim import WorldSpec, ensure_world, render_world
from tastr_stream.sim.layout import generate_layout
from tastr_stream.sim.plan import plan_world
from tastr_stream.train.sources import world_spec_settings

from .conftest import TINY

SMALL_PLAN = dict(cameras=3, people=10, distractors=3, duration_s=60.0, aspect=16 / 9, seed=3,
                  path_range_m=(12.0, 30.0))
GT_ONLY = dict(TINY, people=8, distractors=0, minutes=1.0, fps=10, workers=1, video=False, progress=False)
# Computed with the code before the realism options existed (commit 77bafec, renderer version 2).
HEAD_HASHES = {"default": "f76516ce9c558e68", "default validated": "6523102bf55306d2",
               "configs/world_table4.toml": "939ac9bda30990cb"}
HEAD_PLAN_FINGERPRINT = "82850cd23043204b"


def _fingerprint(plan) -> str:
    h = hashlib.sha256()
    for p in plan.people:
        h.update(repr((p.pid, p.kind, p.height_m, p.speed_mps, p.route)).encode())
    for v in plan.visits:
        h.update(repr((v.pid, v.camera, v.gait_phase0_rad)).encode())
        h.update(v.trajectory.times_s.tobytes())
        h.update(v.trajectory.xz_m.tobytes())
    return h.hexdigest()[:16]


def _hops(plan):
    """(person, hop index, planned gap between leaving one view and entering the next)."""
    people = {p.pid: p for p in plan.people}
    by_pid: dict[int, list] = {}
    for v in plan.visits:
        by_pid.setdefault(v.pid, []).append(v)
    for pid, visits in by_pid.items():
        for k, (a, b) in enumerate(zip(visits, visits[1:])):
            yield people[pid], k, b.trajectory.t_start_s - a.trajectory.t_end_s


def test_default_spec_hashes_as_before_the_options_existed():
    assert WorldSpec().args_hash() == HEAD_HASHES["default"]
    assert WorldSpec().validated().args_hash() == HEAD_HASHES["default validated"]
    spelled_out = WorldSpec(speed_std_mps=0.08, speed_range_mps=(1.2, 1.5), detour_prob=0, detour_mean_s=20,
                            path_error=0.0, path_error_fraction=0.5)
    assert spelled_out.validated().args_hash() == HEAD_HASHES["default validated"]
    table4 = WorldSpec(**world_spec_settings("configs/world_table4.toml")).validated()
    assert table4.args_hash() == HEAD_HASHES["configs/world_table4.toml"]
    for change in ({"speed_std_mps": 0.2}, {"speed_range_mps": (0.8, 1.9)}, {"detour_prob": 0.1},
                   {"detour_mean_s": 5.0}, {"path_error": 0.3}, {"path_error_fraction": 0.2}):
        assert WorldSpec(**change).args_hash() != HEAD_HASHES["default"], change


def test_default_plan_is_the_plan_before_the_options_existed():
    plan = plan_world(**SMALL_PLAN)
    assert _fingerprint(plan) == HEAD_PLAN_FINGERPRINT
    assert [p.speed_mps for p in plan.people][:4] == [1.212, 1.267, 1.438, 1.291]
    assert all(p.detours_s == (0.0,) * (len(p.route) - 1) for p in plan.people)
    assert np.array_equal(plan.configured_length_m, plan.layout.path_length_m)
    for person, k, gap in _hops(plan):
        walk_s = plan.layout.path_length_m[person.route[k], person.route[k + 1]] / person.speed_mps
        assert gap == pytest.approx(walk_s)


def test_default_render_writes_world_json_without_new_keys(tmp_path):
    out = render_world(tmp_path / "w", **{**GT_ONLY, "minutes": 0.2})
    meta = json.loads((out / "world.json").read_text())
    assert set(meta["args"]) == {"cameras", "people", "distractors", "minutes", "resolution", "seed", "fps",
                                 "path_range_m"}
    assert all(set(p) == {"a", "b", "length_m"} for p in meta["paths"])
    assert all("detours_s" not in p for p in meta["people"])
    assert tomllib.loads((out / "network.toml").read_text()) == tomllib.loads((out / "network_true.toml").read_text())


def test_speed_spread_keeps_the_other_draws():
    base = plan_world(**{**SMALL_PLAN, "people": 300})
    wide = plan_world(**{**SMALL_PLAN, "people": 300}, speed_std_mps=0.2, speed_range_mps=(0.8, 1.9))
    speeds = np.array([p.speed_mps for p in wide.people])
    assert speeds.min() >= 0.8 and speeds.max() <= 1.9
    assert 0.17 < speeds.std() < 0.23 and (speeds < 1.2).mean() > 0.1 and (speeds > 1.5).mean() > 0.1
    assert abs(np.median(speeds) - 1.35) < 0.05
    assert np.array([p.speed_mps for p in base.people]).std() < 0.09
    # Speeds change when a person is where, so later draws of the people stream differ; the
    # streams of their own (site, looks) do not.
    assert np.array_equal(wide.layout.path_length_m, base.layout.path_length_m)
    assert [p.appearance for p in wide.people] == [p.appearance for p in base.people]


def test_every_hop_with_a_detour_takes_longer_than_walking():
    plan = plan_world(**{**SMALL_PLAN, "duration_s": 300.0}, detour_prob=1.0, detour_mean_s=5.0)
    hops = 0
    for person, k, gap in _hops(plan):
        walk_s = plan.layout.path_length_m[person.route[k], person.route[k + 1]] / person.speed_mps
        assert person.detours_s[k] > 0
        assert gap == pytest.approx(walk_s + person.detours_s[k])
        assert gap > walk_s
        hops += 1
    assert hops >= 10
    detours = np.array([d for p in plan_world(**{**SMALL_PLAN, "people": 400}, detour_prob=1.0).people
                        for d in p.detours_s])
    assert detours.mean() == pytest.approx(20.0, rel=0.15)
    some = plan_world(**{**SMALL_PLAN, "people": 400}, detour_prob=0.15)
    share = np.mean([d > 0 for p in some.people for d in p.detours_s])
    assert 0.1 < share < 0.2
    nested = plan_world(**{**SMALL_PLAN, "people": 400}, detour_prob=0.3)    # same draws, more of them hit
    assert all(d == 0.0 or d == e for p, q in zip(some.people, nested.people) for d, e in zip(p.detours_s, q.detours_s))


def test_rendered_transfers_with_detours_are_at_least_length_over_speed(tmp_path):
    """gt/transfers.csv comes from what the cameras show; it can only be longer than the walk."""
    out = render_world(tmp_path / "w", **GT_ONLY, detour_prob=1.0, detour_mean_s=3.0)
    meta = json.loads((out / "world.json").read_text())
    speed = {p["pid"]: p["speed_mps"] for p in meta["people"]}
    assert all(len(p["detours_s"]) == len(p["route"]) - 1 and min(p["detours_s"], default=1) > 0
               for p in meta["people"])
    length = {}
    for p in meta["paths"]:
        length[p["a"], p["b"]] = length[p["b"], p["a"]] = p["length_m"]
    with (out / "gt" / "transfers.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows, "no transfer in the small world"
    for r in rows:
        walk_s = length[r["from_camera"], r["to_camera"]] / speed[int(r["pid"])]
        assert float(r["t_enter_s"]) - float(r["t_exit_s"]) >= walk_s - 1 / GT_ONLY["fps"], r


def test_path_error_changes_only_the_configured_lengths(tmp_path):
    settings = dict(GT_ONLY, cameras=6, people=4, minutes=0.2, path_range_m=(20.0, 60.0))
    plain = render_world(tmp_path / "plain", **settings)
    off = render_world(tmp_path / "off", **settings, path_error=0.3, path_error_fraction=0.4)
    for name in sorted(p.name for p in (plain / "gt").iterdir()):
        assert (plain / "gt" / name).read_bytes() == (off / "gt" / name).read_bytes(), name
    meta_plain = json.loads((plain / "world.json").read_text())
    meta = json.loads((off / "world.json").read_text())
    assert meta["people"] == meta_plain["people"] and meta["transfer_stats"] == meta_plain["transfer_stats"]

    lay = generate_layout(6, np.random.default_rng([settings["seed"], 1]), settings["path_range_m"])
    net = config_from_dict(tomllib.loads((off / "network.toml").read_text())).network
    true_net = config_from_dict(tomllib.loads((off / "network_true.toml").read_text())).network
    changed = 0
    for p in meta["paths"]:
        i, j = lay.index(p["a"]), lay.index(p["b"])
        assert p["length_m"] == lay.path_length_m[i, j]
        ratio = p["configured_length_m"] / p["length_m"]
        assert 0.7 - 1e-3 <= ratio <= 1.3 + 1e-3, p
        changed += not math.isclose(ratio, 1.0)
        for a, b in ((p["a"], p["b"]), (p["b"], p["a"])):
            assert net.mean_transfer_s(a, b) * net.walking_speed_mps == pytest.approx(p["configured_length_m"])
            assert true_net.mean_transfer_s(a, b) * true_net.walking_speed_mps == pytest.approx(p["length_m"])
    assert changed == round(0.4 * 15)
    assert "off from the truth" in (off / "network.toml").read_text()
    assert meta["args"]["path_error"] == 0.3 and meta["args"]["detour_prob"] == 0.0   # all options, once one is on


def test_ensure_world_adds_network_true_to_a_world_cached_before_it_existed(tmp_path):
    settings = {**GT_ONLY, "minutes": 0.2}
    out = ensure_world(tmp_path / "w", **settings)
    (out / "network_true.toml").unlink()
    stamp = (out / "world.json").stat().st_mtime_ns
    ensure_world(tmp_path / "w", **settings)
    assert (out / "world.json").stat().st_mtime_ns == stamp     # reused, not re-rendered
    assert "length_m" in (out / "network_true.toml").read_text()


@pytest.mark.parametrize("field, value", [
    ("speed_std_mps", -0.1), ("speed_std_mps", "0.2"), ("speed_range_mps", (1.5, 1.2)), ("speed_range_mps", (0.8,)),
    ("speed_range_mps", (1.4, 1.9)), ("detour_prob", 1.5), ("detour_mean_s", 0.0), ("path_error", 1.2),
    ("path_error", True), ("path_error_fraction", -0.1)])
def test_bad_realism_options_name_field_and_value(field, value):
    with pytest.raises(ConfigError) as exc:
        WorldSpec(**{field: value}).validated()
    assert f"{field}={value!r}" in str(exc.value)
