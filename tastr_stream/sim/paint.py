"""Rasterise figure primitives: shaded and anti-aliased into a frame, or flat into a mask.

Pose detectors respond to shading and rounded joints, so every limb is drawn twice: a darker
full-width stroke and a lighter, narrower one nudged towards the light (top left), which reads
as a cylinder. Coordinates use OpenCV's fixed-point ``shift`` so slow motion stays smooth even
on small figures. The mask path draws the same shapes without anti-aliasing at any scale, which
is what occlusion and visibility are computed from.
"""

from __future__ import annotations

import cv2
import numpy as np

_SHIFT = 4
_ONE = 1 << _SHIFT
_SHADOW, _LIGHT = 0.72, 1.08


def _pt(p, scale=1.0, offset=(0.0, 0.0)) -> tuple[int, int]:
    return (int(round((p[0] * scale + offset[0]) * _ONE)), int(round((p[1] * scale + offset[1]) * _ONE)))


def _mul(c, k) -> tuple[float, float, float]:
    return (min(255.0, c[0] * k), min(255.0, c[1] * k), min(255.0, c[2] * k))


def _stripe_span(poly: np.ndarray, frac: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Left and right ends of the horizontal line at ``frac`` of the polygon's height."""
    y = poly[:, 1].min() + frac * (poly[:, 1].max() - poly[:, 1].min())
    xs = []
    for a, b in zip(poly, np.roll(poly, -1, axis=0)):
        if (a[1] - y) * (b[1] - y) <= 0 and a[1] != b[1]:
            xs.append(a[0] + (y - a[1]) / (b[1] - a[1]) * (b[0] - a[0]))
    if len(xs) < 2:
        return None
    return np.array([min(xs), y]), np.array([max(xs), y])


def draw_figure(img: np.ndarray, prims) -> None:
    """Shaded, anti-aliased rendering into a BGR uint8 frame, in place."""
    aa = cv2.LINE_AA
    for p in prims:
        kind = p[0]
        if kind == "limb":
            _, a, b, t, c = p
            t_px = max(1, int(round(t)))
            cv2.line(img, _pt(a), _pt(b), _mul(c, _SHADOW), t_px, aa, _SHIFT)
            inner = max(1, int(round(t * 0.55)))
            nudge = (-0.14 * t, -0.14 * t)
            cv2.line(img, _pt(a, 1.0, nudge), _pt(b, 1.0, nudge), _mul(c, _LIGHT), inner, aa, _SHIFT)
        elif kind == "line":
            _, a, b, t, c = p
            cv2.line(img, _pt(a), _pt(b), c, max(1, int(round(t))), aa, _SHIFT)
        elif kind == "poly":
            _, pts, c = p
            cv2.fillConvexPoly(img, np.round(pts * _ONE).astype(np.int32), _mul(c, _SHADOW), aa, _SHIFT)
            centre = pts.mean(axis=0)
            span = pts.max(axis=0) - pts.min(axis=0)
            inner = centre + (pts - centre) * 0.78 - 0.06 * span
            cv2.fillConvexPoly(img, np.round(inner * _ONE).astype(np.int32), c, aa, _SHIFT)
        elif kind == "flat":
            _, pts, c = p
            cv2.fillConvexPoly(img, np.round(pts * _ONE).astype(np.int32), c, aa, _SHIFT)
        elif kind == "stripe":
            _, poly, frac, t, c = p
            span = _stripe_span(poly, frac)
            if span is not None:
                inset = np.array([max(1.0, t * 0.5), 0.0])
                cv2.line(img, _pt(span[0] + inset), _pt(span[1] - inset), c, max(1, int(round(t))), aa, _SHIFT)
        elif kind in ("circle", "detail"):
            _, ctr, r, c = p
            cv2.circle(img, _pt(ctr), max(1, int(round(r * _ONE))), c, -1, aa, _SHIFT)
        elif kind == "ellipse":
            _, ctr, axes, c = p
            ax = (max(1, int(round(axes[0] * _ONE))), max(1, int(round(axes[1] * _ONE))))
            cv2.ellipse(img, _pt(ctr), ax, 0.0, 0.0, 360.0, _mul(c, 0.85), -1, aa, _SHIFT)
            ax2 = (max(1, int(round(axes[0] * 0.75 * _ONE))), max(1, int(round(axes[1] * 0.78 * _ONE))))
            nudge = (-0.15 * axes[0], -0.12 * axes[1])
            cv2.ellipse(img, _pt(ctr, 1.0, nudge), ax2, 0.0, 0.0, 360.0, c, -1, aa, _SHIFT)


def draw_mask(mask: np.ndarray, prims, scale: float, offset_xy: tuple[float, float], value: int = 1) -> None:
    """Flat silhouette of the same primitives into a uint8 mask (pixel = p * scale + offset)."""
    for p in prims:
        kind = p[0]
        if kind in ("limb", "line"):
            _, a, b, t = p[:4]
            cv2.line(mask, _pt(a, scale, offset_xy), _pt(b, scale, offset_xy), value,
                     max(1, int(round(t * scale))), cv2.LINE_8, _SHIFT)
        elif kind in ("poly", "flat"):
            pts = p[1] * scale + np.asarray(offset_xy)
            cv2.fillConvexPoly(mask, np.round(pts * _ONE).astype(np.int32), value, cv2.LINE_8, _SHIFT)
        elif kind == "circle":
            cv2.circle(mask, _pt(p[1], scale, offset_xy), max(1, int(round(p[2] * scale * _ONE))), value, -1,
                       cv2.LINE_8, _SHIFT)
        elif kind == "ellipse":
            ax = (max(1, int(round(p[2][0] * scale * _ONE))), max(1, int(round(p[2][1] * scale * _ONE))))
            cv2.ellipse(mask, _pt(p[1], scale, offset_xy), ax, 0.0, 0.0, 360.0, value, -1, cv2.LINE_8, _SHIFT)
