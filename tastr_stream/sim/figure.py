"""An articulated, walking human figure as a list of 2-D drawing primitives plus COCO keypoints.

The skeleton lives in 3-D (forward, right, up axes of the body) and is projected by the camera,
so side-on walkers swing their limbs across the image while people walking towards or away from
the camera foreshorten naturally. Proportions follow standard anthropometry (hip at 0.52 H,
shoulder at 0.82 H, head 0.13 H); the gait is a sinusoidal leg swing with knee flexion in the
swing phase and opposite arm swing. Drawing order is back to front (far limbs, torso, near limbs,
head), so the figure occludes itself correctly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .appearance import BAGS, BOTTOMS, HAIR, SHOES, SKIN, TOPS, Appearance
from .camera_view import CameraView

# COCO order: nose, l_eye, r_eye, l_ear, r_ear, l_sh, r_sh, l_elb, r_elb, l_wri, r_wri,
# l_hip, r_hip, l_knee, r_knee, l_ank, r_ank.
NUM_KEYPOINTS = 17
_RING = tuple((math.cos(a), math.sin(a)) for a in np.linspace(0, 2 * math.pi, 8, endpoint=False))
_BOX_PTS = 16


@dataclass(frozen=True)
class Figure:
    prims: tuple          # drawing primitives, back to front (see paint.py)
    keypoints_xy: np.ndarray    # (17, 2) pixels
    keypoints_seen: np.ndarray  # (17,) bool: not hidden by the figure itself (face away, far ear)
    box_xyxy: np.ndarray        # (4,) full extent of everything drawn, unclipped
    depth_m: float


def person_colours(look: Appearance, view: CameraView) -> dict[str, tuple[float, float, float]]:
    """Palette for one person in one camera: outfit shade times the camera's colour cast."""
    def c(bgr, shade=look.shade):
        return view.tint(tuple(min(255.0, v * shade) for v in bgr))
    return {"top": c(TOPS[look.top]), "accent": c(TOPS[look.accent]), "bottom": c(BOTTOMS[look.bottom]),
            "skin": c(SKIN[look.skin], 1.0), "hair": c(HAIR[look.hair], 1.0), "shoes": c(SHOES[look.shoes], 1.0),
            "bag": c(BAGS[look.bag_colour], 1.0)}


def _box_pts(cf: float, cr: float, cu: float, hf: float, hr: float, hu: float,
             taper: float = 1.0) -> list[tuple[float, float, float]]:
    """Two horizontal ellipses (bottom and top) of 8 points each: a rounded, optionally tapered block."""
    out = []
    for su, k in ((-1, taper), (1, 1.0)):
        for c, s in _RING:
            out.append((cf + c * hf * k, cr + s * hr * k, cu + su * hu))
    return out


def _hull(px: np.ndarray) -> np.ndarray:
    """Convex outline of a block's projected points, so it fills correctly seen from any side."""
    return cv2.convexHull(px.astype(np.float32))[:, 0, :].astype(np.float64)


def build_figure(view: CameraView, size_wh: tuple[int, int], height_m: float, look: Appearance,
                 colours: dict, x_m: float, z_m: float, heading_rad: float, walked_m: float, amp: float,
                 phase0_rad: float) -> Figure:
    H, b = height_m, look.build
    fx, fz = math.cos(heading_rad), math.sin(heading_rad)
    # Gait: one cycle (two steps) per 0.78 body heights walked.
    phi = phase0_rad + 2 * math.pi * walked_m / (0.78 * H)
    legs, arms = {}, {}
    for side, ph in ((-1, phi), (1, phi + math.pi)):
        a = amp * 0.40 * math.sin(ph)
        k = amp * (0.08 + 0.6 * max(0.0, math.cos(ph)))
        s = -amp * 0.32 * math.sin(ph)
        e = 0.12 + amp * 0.35 * max(0.0, -math.sin(ph))
        legs[side], arms[side] = (a, k), (s, e)
    thigh, shin, uarm, farm = 0.245 * H, 0.245 * H, 0.18 * H, 0.16 * H
    hip_h = 0.52 * H
    ankle_h = {sd: hip_h - thigh * math.cos(a) - shin * math.cos(a - k) for sd, (a, k) in legs.items()}
    dy = 0.045 * H - min(ankle_h.values())   # stance foot on the ground: the pelvis bobs
    pts: list[tuple[float, float, float]] = []   # (forward, right, up) in metres

    def add(p):
        pts.append(p)
        return len(pts) - 1

    idx: dict[str, int] = {}
    for sd, (a, k) in legs.items():
        hip = (0.0, sd * 0.06 * H * b, hip_h + dy)
        knee = (hip[0] + thigh * math.sin(a), hip[1], hip[2] - thigh * math.cos(a))
        ankle = (knee[0] + shin * math.sin(a - k), hip[1], knee[2] - shin * math.cos(a - k))
        idx[f"hip{sd}"], idx[f"knee{sd}"], idx[f"ankle{sd}"] = add(hip), add(knee), add(ankle)
        idx[f"toe{sd}"] = add((ankle[0] + 0.075 * H, hip[1], ankle[2] - 0.025 * H))
    for sd, (s, e) in arms.items():
        sh = (0.0, sd * 0.11 * H * b, 0.815 * H + dy)
        el = (sh[0] + uarm * math.sin(s), sh[1] + sd * 0.015 * H, sh[2] - uarm * math.cos(s))
        wr = (el[0] + farm * math.sin(s + e), el[1] + sd * 0.01 * H, el[2] - farm * math.cos(s + e))
        hand = (wr[0] + 0.035 * H * math.sin(s + e), wr[1], wr[2] - 0.035 * H * math.cos(s + e))
        idx[f"sh{sd}"], idx[f"el{sd}"], idx[f"wr{sd}"], idx[f"hand{sd}"] = add(sh), add(el), add(wr), add(hand)
    head_u = 0.925 * H + dy
    idx["neck0"], idx["neck1"] = add((0.0, 0.0, 0.80 * H + dy)), add((0.0, 0.0, 0.88 * H + dy))
    idx["head"] = add((0.0, 0.0, head_u))
    idx["skin"] = add((0.012 * H, 0.0, head_u - 0.008 * H))
    idx["hair"] = add((-0.012 * H, 0.0, head_u + 0.01 * H))
    idx["nose"] = add((0.05 * H, 0.0, head_u - 0.008 * H))
    idx["mouth"] = add((0.045 * H, 0.0, head_u - 0.03 * H))
    for sd in (-1, 1):
        idx[f"eye{sd}"] = add((0.04 * H, sd * 0.018 * H, head_u + 0.008 * H))
        idx[f"ear{sd}"] = add((0.0, sd * 0.045 * H, head_u))
    depth = 0.06 * H * b
    boxes = {"torso": _box_pts(0, 0, (0.835 * H + 0.50 * H) / 2 + dy, depth, 0.12 * H * b, (0.835 - 0.50) * H / 2, 0.85),
             "pelvis": _box_pts(0, 0, 0.49 * H + dy, depth * 0.95, 0.10 * H * b, 0.045 * H),
             "chest": _box_pts(0, 0, (0.835 * H + 0.70 * H) / 2 + dy, depth * 1.02, 0.122 * H * b, 0.0675 * H, 0.94),
             "backpack": _box_pts(-(depth + 0.05 * H), 0, 0.68 * H + dy, 0.05 * H, 0.085 * H * b, 0.11 * H),
             "shoulderbag": _box_pts(0.0, 0.15 * H * b, 0.50 * H + dy, 0.03 * H, 0.07 * H, 0.06 * H)}
    base: dict[str, int] = {}
    for name, corners in boxes.items():
        base[name] = len(pts)
        pts.extend(corners)
    local = np.array(pts)
    fwd, right = np.array([fx, 0.0, fz]), np.array([fz, 0.0, -fx])
    world = (np.array([x_m, 0.0, z_m]) + local[:, :1] * fwd + local[:, 1:2] * right
             + local[:, 2:3] * np.array([0.0, 1.0, 0.0]))
    px = view.project(world, size_wh)
    ppm = view.focal_h * size_wh[1] / z_m     # pixels per metre at the person's depth

    px_list = px.tolist()

    def P(name):
        return px_list[idx[name]]

    def hull(name):
        return _hull(px[base[name]: base[name] + _BOX_PTS])

    col = colours
    # Towards-camera direction on the ground, and how much the person faces it.
    to_cam = np.array([-x_m, -z_m]) / math.hypot(x_m, z_m)
    facing = fx * to_cam[0] + fz * to_cam[1]
    right_to_cam = fz * to_cam[0] - fx * to_cam[1]
    far = 1 if right_to_cam < 0 else -1     # the body side further from the camera
    sleeve = col["top"] if look.pattern != "two-tone" else col["accent"]
    fore = col["skin"] if look.short_sleeves else sleeve
    prims: list[tuple] = []

    def arm(sd):
        prims.append(("limb", P(f"sh{sd}"), P(f"el{sd}"), 0.055 * H * ppm, sleeve))
        prims.append(("limb", P(f"el{sd}"), P(f"wr{sd}"), 0.046 * H * ppm, fore))
        prims.append(("circle", P(f"hand{sd}"), 0.026 * H * ppm, col["skin"]))

    def leg(sd):
        prims.append(("limb", P(f"knee{sd}"), P(f"ankle{sd}"), 0.07 * H * ppm, col["bottom"]))
        prims.append(("limb", P(f"hip{sd}"), P(f"knee{sd}"), 0.088 * H * ppm * b, col["bottom"]))
        prims.append(("limb", P(f"ankle{sd}"), P(f"toe{sd}"), 0.05 * H * ppm, col["shoes"]))

    if look.bag == "backpack" and facing > 0.5:
        prims.append(("poly", hull("backpack"), col["bag"]))
    arm(far)
    leg(far)
    leg(-far)
    prims.append(("poly", hull("pelvis"), col["bottom"]))
    prims.append(("limb", P("neck0"), P("neck1"), 0.06 * H * ppm, col["skin"]))
    torso = hull("torso")
    prims.append(("poly", torso, col["top"]))
    if look.pattern == "two-tone":
        prims.append(("flat", hull("chest"), col["accent"]))
    elif look.pattern == "stripes":
        for frac in (0.3, 0.5, 0.7, 0.9):
            prims.append(("stripe", torso, frac, max(1.0, 0.025 * H * ppm), col["accent"]))
    if look.bag == "backpack" and facing <= 0.5:
        prims.append(("poly", hull("backpack"), col["bag"]))
    if look.bag == "shoulder":
        prims.append(("line", P("sh-1"), hull("shoulderbag").mean(axis=0), max(1.0, 0.012 * H * ppm), col["bag"]))
        prims.append(("poly", hull("shoulderbag"), col["bag"]))
    arm(-far)
    head_axes = np.array([0.05 * H * ppm, 0.066 * H * ppm])
    hair = ("ellipse", P("hair"), head_axes * (1.06, 1.0), col["hair"])
    skin = ("ellipse", P("skin"), head_axes * (0.93, 0.92), col["skin"])
    if look.hair_long and facing < 0.3:
        nk = P("neck1")
        prims.append(("ellipse", [nk[0], nk[1] + 0.01 * H * ppm], head_axes * (1.0, 1.15), col["hair"]))
    prims.extend([skin, hair] if facing < -0.3 else [hair, skin])
    if facing > -0.1:
        _face(prims, P, look, col, facing, right_to_cam, H * ppm)
    kp_names = ["nose", "eye-1", "eye1", "ear-1", "ear1", "sh-1", "sh1", "el-1", "el1", "wr-1", "wr1",
                "hip-1", "hip1", "knee-1", "knee1", "ankle-1", "ankle1"]
    kps = np.array([P(n) for n in kp_names])
    seen = np.ones(NUM_KEYPOINTS, dtype=bool)
    seen[0] = facing > -0.1
    for i, sd in ((1, -1), (2, 1)):
        seen[i] = facing > -0.1 and sd * right_to_cam > -0.7
    for i, sd in ((3, -1), (4, 1)):
        seen[i] = sd * right_to_cam > -0.3
    return Figure(tuple(prims), kps, seen, prims_box(prims), float(z_m))


def _face(prims: list, P, look: Appearance, col: dict, facing: float, right_to_cam: float, h_px: float) -> None:
    """Eyes, nose and mouth: pose networks look for a face, and a blank skin oval is not one.

    ``detail`` primitives lie inside the head, so they change neither the box nor the silhouette.
    """
    r_eye = max(0.6, 0.0075 * h_px)
    dark = (32.0, 30.0, 34.0)
    for sd in (-1, 1):
        if facing > -0.1 and sd * right_to_cam > -0.7:
            prims.append(("detail", P(f"eye{sd}"), r_eye, dark))
    skin = col["skin"]
    nose = P("nose")
    prims.append(("detail", nose, max(0.5, 0.006 * h_px), (skin[0] * 0.72, skin[1] * 0.72, skin[2] * 0.72)))
    mouth = P("mouth")
    prims.append(("detail", mouth, max(0.5, 0.005 * h_px), (skin[0] * 0.6, skin[1] * 0.6, skin[2] * 0.75)))


def prims_box(prims) -> np.ndarray:
    """Unclipped x1, y1, x2, y2 of everything drawn (line widths and radii included)."""
    x1 = y1 = math.inf
    x2 = y2 = -math.inf
    for p in prims:
        kind = p[0]
        if kind in ("limb", "line"):
            r = p[3] / 2
            for q in (p[1], p[2]):
                x1, y1, x2, y2 = min(x1, q[0] - r), min(y1, q[1] - r), max(x2, q[0] + r), max(y2, q[1] + r)
        elif kind in ("poly", "flat"):
            lo, hi = p[1].min(axis=0), p[1].max(axis=0)
            x1, y1, x2, y2 = min(x1, lo[0]), min(y1, lo[1]), max(x2, hi[0]), max(y2, hi[1])
        elif kind in ("circle", "ellipse"):
            rx, ry = (p[2], p[2]) if kind == "circle" else (p[2][0], p[2][1])
            c = p[1]
            x1, y1, x2, y2 = min(x1, c[0] - rx), min(y1, c[1] - ry), max(x2, c[0] + rx), max(y2, c[1] + ry)
    return np.array([x1, y1, x2, y2], dtype=np.float32)
