"""One camera's view: a pinhole looking across a strip of pavement in front of a wall.

Ground coordinates are metres in the camera's frame: X lateral (right is +), Z depth from
the camera. A point at height Y projects to x = cx + f X / Z, y = y_h + f (h_cam - Y) / Z, so
people further away stand higher in the image and are smaller, as in a real elevated camera.
The geometry depends only on the aspect ratio (f scales with the image height), so the same
world rendered at 640x360 or 3840x2160 has the same ground truth up to scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

WALLS = ((172, 178, 180), (150, 170, 186), (120, 132, 160), (168, 160, 150), (140, 150, 146), (176, 184, 190))
PAVEMENTS = ((112, 114, 116), (138, 142, 146), (104, 112, 130), (124, 122, 118), (96, 98, 100))


@dataclass(frozen=True)
class CameraView:
    camera_id: str
    aspect: float          # image width / height
    focal_h: float         # focal length in image heights
    horizon_h: float       # horizon row as a fraction of the image height
    height_m: float        # camera height above the pavement
    z_near_m: float        # nearest walking depth (a tall person's feet still in frame)
    z_far_m: float         # furthest walking depth
    z_wall_m: float        # the wall behind the walking strip
    tint_bgr: tuple[float, float, float]   # per-camera colour cast applied to everything
    wall_bgr: tuple[int, int, int]
    pavement_bgr: tuple[int, int, int]
    layout_seed: int       # background objects

    def half_width_m(self, z_m: float) -> float:
        """Half the visible ground width at depth ``z_m``."""
        return 0.5 * self.aspect / self.focal_h * z_m

    def project(self, pts_xyz: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
        """(N, 3) ground-frame points (X, Y up, Z depth) -> (N, 2) pixels."""
        w, h = size_wh
        f = self.focal_h * h
        z = np.maximum(pts_xyz[:, 2], 0.1)
        x = 0.5 * w + f * pts_xyz[:, 0] / z
        y = self.horizon_h * h + f * (self.height_m - pts_xyz[:, 1]) / z
        return np.stack([x, y], axis=1)

    def tint(self, bgr) -> tuple[float, float, float]:
        return tuple(min(255.0, c * t) for c, t in zip(bgr, self.tint_bgr))


def make_view(camera_id: str, aspect: float, rng: np.random.Generator) -> CameraView:
    focal_h = float(rng.uniform(0.95, 1.1))
    horizon_h = float(rng.uniform(0.2, 0.3))
    height_m = float(rng.uniform(2.3, 3.0))
    # Feet of someone at z_near sit at 95 % of the image height; a 1.75 m person at z_far is 17 % tall.
    z_near = focal_h * height_m / (0.95 - horizon_h)
    z_far = focal_h * 1.75 / 0.17
    return CameraView(
        camera_id=camera_id, aspect=aspect, focal_h=focal_h, horizon_h=horizon_h, height_m=height_m,
        z_near_m=round(z_near, 3), z_far_m=round(z_far, 3), z_wall_m=round(z_far + float(rng.uniform(1.5, 3.0)), 3),
        tint_bgr=tuple(round(float(v), 3) for v in rng.uniform(0.88, 1.1, size=3)),
        wall_bgr=WALLS[int(rng.integers(len(WALLS)))], pavement_bgr=PAVEMENTS[int(rng.integers(len(PAVEMENTS)))],
        layout_seed=int(rng.integers(2**31)),
    )


def _box(view: CameraView, size, x0, x1, y0, y1, z) -> np.ndarray:
    pts = np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=np.float64)
    return view.project(pts, size)


def _fill(img, pts_px, bgr) -> None:
    cv2.fillConvexPoly(img, np.round(pts_px * 16).astype(np.int32), bgr, cv2.LINE_AA, 4)


def render_background(view: CameraView, size_wh: tuple[int, int]) -> np.ndarray:
    """Wall band with mild texture, pavement with perspective joints, benches and poles."""
    w, h = size_wh
    rng = np.random.default_rng(view.layout_seed)
    img = np.empty((h, w, 3), np.float32)
    zw = view.z_wall_m
    wall_base = view.horizon_h * h + view.focal_h * h * view.height_m / zw
    wall_top = view.horizon_h * h + view.focal_h * h * (view.height_m - 3.6) / zw
    rows = np.arange(h, dtype=np.float32)[:, None]
    pave = np.array(view.pavement_bgr, np.float32)
    # Pavement darkens a little towards the camera; wall is flat; sky-ish band above the wall.
    img[:] = pave * (1.05 - 0.12 * np.clip((rows - wall_base) / max(1.0, h - wall_base), 0, 1))[..., None]
    img[: int(math.ceil(wall_base))] = np.array(view.wall_bgr, np.float32)
    if wall_top > 0:
        img[: int(wall_top)] = np.array((200, 196, 186), np.float32)
    low = cv2.resize(rng.normal(0, 4, (9, 16)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    img += low[..., None] + rng.normal(0, 1.5, (h, w, 1)).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    line = tuple(int(c * 0.88) for c in view.pavement_bgr)
    half = view.half_width_m(zw) + 2
    for x in np.arange(-half, half, 1.5):     # slab joints running away from the camera
        p = view.project(np.array([[x, 0, view.z_near_m * 0.6], [x, 0, zw]]), size_wh)
        cv2.line(img, tuple(np.round(p[0] * 16).astype(int)), tuple(np.round(p[1] * 16).astype(int)), line, 1, cv2.LINE_AA, 4)
    for z in np.arange(zw, view.z_near_m * 0.6, -1.2):  # and across
        p = view.project(np.array([[-half * 2, 0, z], [half * 2, 0, z]]), size_wh)
        cv2.line(img, tuple(np.round(p[0] * 16).astype(int)), tuple(np.round(p[1] * 16).astype(int)), line, 1, cv2.LINE_AA, 4)
    wall_dark = tuple(int(c * 0.8) for c in view.wall_bgr)
    for x in np.arange(-half, half, float(rng.uniform(2.0, 3.5))):   # wall panels
        _fill(img, _box(view, size_wh, x, x + 0.04, 0.0, 3.6, zw), wall_dark)
    for _ in range(int(rng.integers(1, 3))):                          # doors / windows
        x, y0 = rng.uniform(-half * 0.8, half * 0.8), float(rng.choice([0.0, 1.0]))
        _fill(img, _box(view, size_wh, x, x + 1.1, y0, y0 + (2.1 if y0 == 0 else 1.2), zw), (60, 62, 66))
    for _ in range(int(rng.integers(1, 3))):                          # benches in front of the wall
        x, z = rng.uniform(-half * 0.7, half * 0.6), zw - 0.5
        _fill(img, _box(view, size_wh, x, x + 1.6, 0.42, 0.48, z), (52, 70, 92))
        _fill(img, _box(view, size_wh, x, x + 1.6, 0.6, 0.85, zw - 0.2), (52, 70, 92))
        for leg in (x + 0.1, x + 1.45):
            _fill(img, _box(view, size_wh, leg, leg + 0.06, 0.0, 0.45, z), (40, 40, 40))
    for _ in range(int(rng.integers(1, 4))):                          # lamp posts / poles
        x = rng.uniform(-half * 0.9, half * 0.9)
        _fill(img, _box(view, size_wh, x, x + 0.1, 0.0, 3.4, zw - 0.3), (70, 72, 74))
    tinted = img.astype(np.float32) * np.array(view.tint_bgr, np.float32)
    return np.clip(tinted, 0, 255).astype(np.uint8)
