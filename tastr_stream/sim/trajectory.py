"""A person's path through one camera view: timed waypoints on the ground, in metres.

Between waypoints a person walks in a straight line at their own speed; two equal consecutive
waypoints mean standing still. Everything a renderer needs at time t (position, facing, how far
they have walked for the gait phase, how strongly they swing their limbs) comes from here,
vectorised over frame times, so ground truth never depends on drawing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_TURN_RAMP_S = 0.3      # how long the gait takes to settle when a person stops or starts
_FACING_CAMERA = -math.pi / 2   # heading (atan2(dz, dx)) of someone walking straight at the camera


@dataclass(frozen=True)
class Trajectory:
    times_s: np.ndarray     # (K,) increasing (equal times never occur; stands have a duration)
    xz_m: np.ndarray        # (K, 2) ground-frame positions: X lateral, Z depth

    @property
    def t_start_s(self) -> float:
        return float(self.times_s[0])

    @property
    def t_end_s(self) -> float:
        return float(self.times_s[-1])

    def shifted(self, dt_s: float) -> "Trajectory":
        return Trajectory(self.times_s + dt_s, self.xz_m)

    def state(self, t_s: np.ndarray) -> dict[str, np.ndarray]:
        """Position, heading (rad), walked distance (m) and gait amplitude (0-1) at times ``t_s``."""
        times, xz = self.times_s, self.xz_m
        t = np.clip(np.asarray(t_s, dtype=np.float64), times[0], times[-1])
        seg_vec = np.diff(xz, axis=0)
        seg_len = np.hypot(seg_vec[:, 0], seg_vec[:, 1])
        cum = np.concatenate([[0.0], np.cumsum(seg_len)])
        x = np.interp(t, times, xz[:, 0])
        z = np.interp(t, times, xz[:, 1])
        walked = np.interp(t, times, cum)
        seg_heading = self._segment_headings(seg_vec, seg_len)
        seg = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(seg_len) - 1)
        heading = seg_heading[seg].copy()
        amp = np.ones_like(t)
        standing = seg_len[seg] < 1e-6
        if standing.any():
            ts, te = times[seg], times[seg + 1]
            frac = np.clip((t - ts) / np.maximum(te - ts, 1e-6), 0, 1)
            before = seg_heading[np.maximum(seg - 1, 0)]
            after = seg_heading[np.minimum(seg + 1, len(seg_len) - 1)]
            turned = _turn(before, after, frac)
            heading = np.where(standing, turned, heading)
            settle = np.clip(np.minimum(t - ts, te - t) / _TURN_RAMP_S, 0, 1)
            amp = np.where(standing, 1.0 - settle, amp)
        return {"x_m": x, "z_m": z, "heading_rad": heading, "walked_m": walked, "amp": amp}

    @staticmethod
    def _segment_headings(seg_vec: np.ndarray, seg_len: np.ndarray) -> np.ndarray:
        """Heading of each moving segment; a standing segment inherits the previous one."""
        out = np.arctan2(seg_vec[:, 1], seg_vec[:, 0])
        last = None
        for i, length in enumerate(seg_len):
            if length < 1e-6:
                out[i] = last if last is not None else np.nan
            else:
                last = out[i]
        # A trajectory that starts standing takes the first moving heading.
        first = next((h for h in out if not np.isnan(h)), _FACING_CAMERA)
        return np.where(np.isnan(out), first, out)


def _turn(a: np.ndarray, b: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Rotate from heading a to b; a near half-turn goes through facing the camera, as people do."""
    d = (b - a + np.pi) % (2 * np.pi) - np.pi
    half_turn = np.abs(np.abs(d) - np.pi) < 0.35
    via = (_FACING_CAMERA - a + np.pi) % (2 * np.pi) - np.pi
    d = np.where(half_turn, np.sign(via) * np.abs(d), d)
    return a + d * frac


def timed(points_xz: list[tuple[float, float]], stands_s: list[float], speed_mps: float, t0_s: float) -> Trajectory:
    """Waypoints walked at ``speed_mps``; ``stands_s[i]`` seconds of standing at point i."""
    times, pts = [t0_s], [points_xz[0]]
    if stands_s[0] > 0:
        times.append(t0_s + stands_s[0])
        pts.append(points_xz[0])
    for i in range(1, len(points_xz)):
        prev, cur = pts[-1], points_xz[i]
        dist = math.hypot(cur[0] - prev[0], cur[1] - prev[1])
        times.append(times[-1] + max(dist / speed_mps, 1e-3))
        pts.append(cur)
        if stands_s[i] > 0:
            times.append(times[-1] + stands_s[i])
            pts.append(cur)
    return Trajectory(np.array(times), np.array(pts, dtype=np.float64))
