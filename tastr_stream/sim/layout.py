"""The site map: camera positions in metres and the walking paths between them.

Re-ID across non-overlapping cameras leans on travel times, so the map must look like a real
campus: cameras tens to hundreds of metres apart (Campus-4K's paths are 50-245 m), joined by a
planar graph of walkways whose lengths are a little longer than the straight line. People only
walk along *direct* edges (edges that are themselves a shortest path), so nobody passes a third
camera on the way and the true transfer time of a hop is length / walking speed (plus any stop
or detour the plan adds). The lengths an operator *configures* may be off from these:
:func:`configured_lengths` makes such a survey error on a share of the camera pairs.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import shortest_path
from scipy.spatial import Delaunay, QhullError

from ..errors import ConfigError

DEFAULT_PATH_RANGE_M = (40.0, 250.0)
_MAX_ATTEMPTS = 400


@dataclass(frozen=True)
class SiteLayout:
    """Cameras on a 2-D map. ``path_length_m[i, j]`` is the shortest walking distance."""

    camera_ids: tuple[str, ...]
    positions_m: np.ndarray          # (N, 2) float64
    path_length_m: np.ndarray        # (N, N) float64, symmetric, 0 on the diagonal
    neighbours: tuple[tuple[int, ...], ...]   # direct walking edges per camera
    headings_rad: np.ndarray         # (N,) direction the camera's image x-axis points on the map

    def index(self, camera_id: str) -> int:
        return self.camera_ids.index(camera_id)

    def side_towards(self, cam: int, other: int) -> int:
        """-1 if ``other`` lies off the left edge of ``cam``'s view, +1 if off the right edge."""
        d = self.positions_m[other] - self.positions_m[cam]
        h = self.headings_rad[cam]
        along = d[0] * math.cos(h) + d[1] * math.sin(h)
        return 1 if along >= 0 else -1


def _sample_positions(n: int, rng: np.random.Generator, lo_m: float, box_m: tuple[float, float]) -> np.ndarray:
    """Dart throwing with a minimum straight-line separation (detours only lengthen paths)."""
    pts: list[np.ndarray] = []
    for _ in range(200 * n):
        p = rng.uniform((0.0, 0.0), box_m)
        if all(np.hypot(*(p - q)) >= lo_m for q in pts):
            pts.append(p)
            if len(pts) == n:
                return np.array(pts)
    return np.empty((0, 2))


def _edges(pos: np.ndarray) -> list[tuple[int, int]]:
    n = len(pos)
    if n <= 3:
        return list(itertools.combinations(range(n), 2))
    try:
        tri = Delaunay(pos)
    except QhullError:  # (near-)collinear cameras: every pair gets a walkway
        return list(itertools.combinations(range(n), 2))
    edges = set()
    for simplex in tri.simplices:
        for a, b in itertools.combinations(sorted(int(v) for v in simplex), 2):
            edges.add((a, b))
    return sorted(edges)


def _graph(pos: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, tuple[tuple[int, ...], ...]]:
    n = len(pos)
    w = np.full((n, n), np.inf)
    np.fill_diagonal(w, 0.0)
    for a, b in _edges(pos):
        # Walkways bend around buildings: 5-30 % longer than the straight line.
        length = float(np.hypot(*(pos[a] - pos[b]))) * rng.uniform(1.05, 1.30)
        w[a, b] = w[b, a] = round(length)
    dist = shortest_path(np.where(np.isinf(w), 0.0, w), method="D", directed=False)
    direct = [tuple(j for j in range(n) if j != i and np.isfinite(w[i, j]) and w[i, j] <= dist[i, j] + 1e-9)
              for i in range(n)]
    return dist, tuple(direct)


def generate_layout(num_cameras: int, rng: np.random.Generator,
                    path_range_m: tuple[float, float] = DEFAULT_PATH_RANGE_M) -> SiteLayout:
    """Place ``num_cameras`` so every shortest walking path lies in ``path_range_m``.

    The box grows slowly with failed attempts, so many cameras still fit (the upper bound is
    then best effort); a layout whose paths fall outside the range is never returned silently.
    """
    if num_cameras < 2:
        raise ConfigError(f"a camera network needs at least 2 cameras, got {num_cameras}")
    lo, hi = path_range_m
    if not (0 < lo < hi):
        raise ConfigError(f"path length range must satisfy 0 < min < max, got {path_range_m}")
    width = hi * 0.62 * max(1.0, math.sqrt(num_cameras / 6.0))
    best: tuple[float, np.ndarray, np.ndarray, tuple] | None = None
    for attempt in range(_MAX_ATTEMPTS):
        grow = 1.0 + 0.01 * attempt
        pos = _sample_positions(num_cameras, rng, lo, (width * grow, width * grow * 0.7))
        if len(pos) < num_cameras:
            continue
        dist, direct = _graph(pos, rng)
        off = dist[~np.eye(num_cameras, dtype=bool)]
        excess = max(0.0, lo - off.min()) + max(0.0, off.max() - hi)
        if best is None or excess < best[0]:
            best = (excess, pos, dist, direct)
        if excess == 0.0:
            break
    if best is None:
        raise ConfigError(f"cannot place {num_cameras} cameras with paths in {path_range_m} m")
    _, pos, dist, direct = best
    ids = tuple(f"cam{i + 1}" for i in range(num_cameras))
    headings = rng.uniform(-math.pi, math.pi, size=num_cameras)
    return SiteLayout(ids, np.round(pos, 1), dist, direct, headings)


def configured_lengths(path_length_m: np.ndarray, error: float, fraction: float,
                       rng: np.random.Generator) -> np.ndarray:
    """Path lengths as an operator would configure them: ``round(fraction * pairs)`` camera pairs,
    chosen at random, are off from the truth by a factor ``1 + u`` with ``u ~ U(-error, error)``.

    Symmetric, 0 on the diagonal, rounded to centimetres; ``error == 0`` returns an exact copy.
    Every pair's draws happen whatever ``error`` and ``fraction`` are, so worlds that differ only
    in them share their chosen pairs and signs.
    """
    n = len(path_length_m)
    out = np.array(path_length_m, dtype=np.float64, copy=True)
    iu, ju = np.triu_indices(n, k=1)
    order = rng.permutation(len(iu))
    u = rng.uniform(-1.0, 1.0, len(iu))
    if error == 0.0:
        return out
    chosen = order[:int(round(fraction * len(iu)))]
    factor = np.ones(len(iu))
    factor[chosen] = 1.0 + error * u[chosen]
    vals = np.round(out[iu, ju] * factor, 2)
    out[iu, ju] = out[ju, iu] = vals
    return out
