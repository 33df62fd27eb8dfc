"""Who walks where and when: routes over the camera graph and paths through each view.

A walker enters the network during the recording, visits 2-4 cameras on a random walk over
direct walkways, and takes ``path length / own speed`` between leaving one view and entering
the next, plus, on a share ``detour_prob`` of hops, an exponential stop or detour (a coffee, a
phone call, a longer way round). They enter a view from the side facing the camera they came
from and leave towards the next one. Inside a view people mostly cross side-on, sometimes
diagonally, stop, turn back, or step out and come back; distractors appear in one camera only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .appearance import Appearance, sample_appearances
from .camera_view import CameraView, make_view
from .layout import SiteLayout, configured_lengths, generate_layout
from .trajectory import Trajectory, timed

SPEED_MEAN_MPS, SPEED_STD_MPS, SPEED_RANGE_MPS = 1.35, 0.08, (1.2, 1.5)
DETOUR_MEAN_S = 20.0
HEIGHT_RANGE_M = (1.55, 1.95)
_VISITS = [2, 3, 4]       # cameras on a walker's route
_MAX_HOPS = max(_VISITS) - 1
_EDGE_MARGIN_M = 0.6     # start/end this far beyond the frame edge: the whole body is outside


@dataclass(frozen=True)
class Person:
    pid: int
    kind: str                 # walker | distractor
    height_m: float
    speed_mps: float
    appearance: Appearance
    route: tuple[int, ...]    # camera indices, in visiting order (planned; may run past the end)
    detours_s: tuple[float, ...] = ()   # extra time on each hop of the route (0.0: none), len(route) - 1


@dataclass(frozen=True)
class PlannedVisit:
    pid: int
    camera: int
    trajectory: Trajectory
    gait_phase0_rad: float


@dataclass(frozen=True)
class WorldPlan:
    layout: SiteLayout
    views: tuple[CameraView, ...]
    people: tuple[Person, ...]
    visits: tuple[PlannedVisit, ...]
    duration_s: float
    configured_length_m: np.ndarray   # (N, N) path lengths as configured (== layout's when path_error is 0)


def _rng(seed: int, stream: int) -> np.random.Generator:
    """Independent streams: the layout for a seed does not change with the number of people.

    1 layout, 2 views, 3 people and their walks, 4 appearances, 5 detours, 6 path-length errors:
    the optional realism draws from streams of their own, so turning it off gives the same world.
    """
    return np.random.default_rng([seed, stream])


def _edge_x(view: CameraView, side: int, z: float) -> float:
    return side * (view.half_width_m(z) + _EDGE_MARGIN_M)


def _visit_path(view: CameraView, side_in: int, side_out: int, rng: np.random.Generator):
    """Waypoints and stand times for one pass through a view."""
    lo, hi = view.z_near_m + 0.3, view.z_far_m
    z_in = float(rng.uniform(lo, hi))
    pts = [(_edge_x(view, side_in, z_in), z_in)]
    stands = [0.0]
    if rng.random() < 0.08:   # steps in, goes back out of view for a few seconds, returns
        z_peek = float(np.clip(z_in + rng.normal(0, 0.5), lo, hi))
        pts += [(side_in * view.half_width_m(z_peek) * rng.uniform(0.3, 0.8), z_peek), pts[0]]
        stands += [float(rng.uniform(0.4, 1.0)), float(rng.uniform(2.0, 6.0))]
    if side_in == side_out:   # turn back: walk in (maybe deeper or nearer), pause, walk out
        z_turn = float(np.clip(z_in + rng.uniform(-3, 3), lo, hi))
        pts.append((side_in * view.half_width_m(z_turn) * rng.uniform(-0.4, 0.5), z_turn))
        stands.append(float(rng.uniform(0.6, 2.5)))
        z_out = float(np.clip(z_turn + rng.normal(0, 1.0), lo, hi))
    else:
        diagonal = rng.random() < 0.25
        z_out = float(rng.uniform(lo, hi)) if diagonal else float(np.clip(z_in + rng.normal(0, 0.8), lo, hi))
        if rng.random() < 0.15:   # stops for a while in the middle (phone, looking around)
            f = float(rng.uniform(0.3, 0.7))
            zm = z_in + f * (z_out - z_in)
            pts.append((side_in * view.half_width_m(zm) * (1 - 2 * f), zm))
            stands.append(float(rng.uniform(1.5, 5.0)))
    pts.append((_edge_x(view, side_out, z_out), z_out))
    stands.append(0.0)
    return pts, stands


def _route(layout: SiteLayout, rng: np.random.Generator) -> tuple[int, ...]:
    n_visits = int(rng.choice(_VISITS, p=[0.4, 0.35, 0.25]))
    route = [int(rng.integers(len(layout.camera_ids)))]
    while len(route) < n_visits:
        options = list(layout.neighbours[route[-1]])
        weights = np.array([0.25 if len(route) > 1 and c == route[-2] else 1.0 for c in options])
        route.append(int(rng.choice(options, p=weights / weights.sum())))
    return tuple(route)


def _side(rng: np.random.Generator) -> int:
    return 1 if rng.random() < 0.5 else -1


def _detours(hops: int, prob: float, mean_s: float, rng: np.random.Generator) -> tuple[float, ...]:
    """Extra seconds per hop. The draws for the longest route happen for every person whatever
    ``prob`` is, so worlds that differ only in the options share their detours (a higher ``prob``
    adds to them), even where routes differ."""
    u, e = rng.random(_MAX_HOPS), rng.exponential(1.0, _MAX_HOPS)
    return tuple(round(float(x), 3) if hit else 0.0 for x, hit in zip(e[:hops] * mean_s, u[:hops] < prob))


def _schedule(person_route, layout, views, speed, duration_s, rng, detours_s) -> list[tuple[int, Trajectory]]:
    """Trajectories for each planned visit, in epoch time; visits starting after the end are dropped."""
    legs = []
    for k, cam in enumerate(person_route):
        side_in = layout.side_towards(cam, person_route[k - 1]) if k > 0 else _side(rng)
        side_out = layout.side_towards(cam, person_route[k + 1]) if k + 1 < len(person_route) else _side(rng)
        if k > 0 and person_route[k - 1] == cam:
            side_in = _side(rng)
        pts, stands = _visit_path(views[cam], side_in, side_out, rng)
        legs.append((cam, timed(pts, stands, speed, 0.0)))
    first = legs[0][1]
    t = float(rng.uniform(0.0, max(0.0, duration_s - first.t_end_s)))
    out = []
    for k, (cam, traj) in enumerate(legs):
        if k > 0:
            t += float(layout.path_length_m[person_route[k - 1], cam]) / speed + detours_s[k - 1]
        if t >= duration_s:
            break
        out.append((cam, traj.shifted(t)))
        t += traj.t_end_s
    return out


def plan_world(*, cameras: int, people: int, distractors: int, duration_s: float, aspect: float, seed: int,
               path_range_m: tuple[float, float], confusable_fraction: float = 0.2,
               speed_std_mps: float = SPEED_STD_MPS, speed_range_mps: tuple[float, float] = SPEED_RANGE_MPS,
               detour_prob: float = 0.0, detour_mean_s: float = DETOUR_MEAN_S, path_error: float = 0.0,
               path_error_fraction: float = 0.5) -> WorldPlan:
    """The seeded world; the defaults of the keyword options give the world of renderer version 2."""
    layout = generate_layout(cameras, _rng(seed, 1), path_range_m)
    view_rng = _rng(seed, 2)
    views = tuple(make_view(cid, aspect, view_rng) for cid in layout.camera_ids)
    rng = _rng(seed, 3)
    looks = sample_appearances(people + distractors, _rng(seed, 4), confusable_fraction)
    detour_rng = _rng(seed, 5)
    persons, visits = [], []
    for i in range(people + distractors):
        kind = "walker" if i < people else "distractor"
        speed = round(float(np.clip(rng.normal(SPEED_MEAN_MPS, speed_std_mps), *speed_range_mps)), 3)
        height = round(float(np.clip(rng.normal(1.72, 0.09), *HEIGHT_RANGE_M)), 3)
        route = _route(layout, rng) if kind == "walker" else (int(rng.integers(cameras)),)
        detours = _detours(len(route) - 1, detour_prob, detour_mean_s, detour_rng)
        persons.append(Person(i + 1, kind, height, speed, looks[i], route, detours))
        for cam, traj in _schedule(route, layout, views, speed, duration_s, rng, detours):
            visits.append(PlannedVisit(i + 1, cam, traj, float(rng.uniform(0, 2 * math.pi))))
    configured = configured_lengths(layout.path_length_m, path_error, path_error_fraction, _rng(seed, 6))
    return WorldPlan(layout, views, tuple(persons), tuple(visits), duration_s, configured)
