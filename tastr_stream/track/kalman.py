"""A stateless constant-velocity Kalman filter over boxes, vectorised over tracks.

State per track: (cx, cy, a, h, vcx, vcy, va, vh) with a = width / height, as in SORT/ByteTrack.
The filter keeps no state: ``predict(mean, cov)`` and ``update(mean, cov, z)`` return new
arrays and the tracker owns them, so one filter serves every camera's tracker. Noise scales
with box height, which keeps the filter sensible from 40 px far-away people to 800 px close ones.
"""

from __future__ import annotations

import numpy as np

_NDIM = 4
_STD_POS = 1.0 / 20
_STD_VEL = 1.0 / 160


def _motion_matrix(dt: float = 1.0) -> np.ndarray:
    f = np.eye(2 * _NDIM)
    f[:_NDIM, _NDIM:] = dt * np.eye(_NDIM)
    return f


_F = _motion_matrix()
_H = np.eye(_NDIM, 2 * _NDIM)


def xyxy_to_xyah(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    w = boxes[:, 2] - boxes[:, 0]
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
    return np.column_stack([boxes[:, 0] + w / 2, boxes[:, 1] + h / 2, w / h, h])


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    xyah = np.asarray(xyah, dtype=np.float64).reshape(-1, 4)
    h = xyah[:, 3]
    w = xyah[:, 2] * h
    return np.column_stack([xyah[:, 0] - w / 2, xyah[:, 1] - h / 2, xyah[:, 0] + w / 2, xyah[:, 1] + h / 2])


def initiate(z_xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New tracks from measurements (N, 4): zero velocity, uncertainty scaled by height."""
    z = np.asarray(z_xyah, dtype=np.float64).reshape(-1, _NDIM)
    mean = np.concatenate([z, np.zeros_like(z)], axis=1)
    h = z[:, 3]
    std = np.stack([2 * _STD_POS * h, 2 * _STD_POS * h, np.full_like(h, 1e-2), 2 * _STD_POS * h,
                    10 * _STD_VEL * h, 10 * _STD_VEL * h, np.full_like(h, 1e-5), 10 * _STD_VEL * h], axis=1)
    cov = np.einsum("ni,ij->nij", std**2, np.eye(2 * _NDIM))
    return mean, cov


def predict(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame ahead for every track at once: (N, 8), (N, 8, 8) -> same shapes."""
    if len(mean) == 0:
        return mean, cov
    h = mean[:, 3]
    std = np.stack([_STD_POS * h, _STD_POS * h, np.full_like(h, 1e-2), _STD_POS * h,
                    _STD_VEL * h, _STD_VEL * h, np.full_like(h, 1e-5), _STD_VEL * h], axis=1)
    q = np.einsum("ni,ij->nij", std**2, np.eye(2 * _NDIM))
    new_mean = mean @ _F.T
    new_cov = _F @ cov @ _F.T + q
    return new_mean, new_cov


def update(mean: np.ndarray, cov: np.ndarray, z_xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct matched tracks with their measurements, all at once."""
    if len(mean) == 0:
        return mean, cov
    h = mean[:, 3]
    std = np.stack([_STD_POS * h, _STD_POS * h, np.full_like(h, 1e-1), _STD_POS * h], axis=1)
    r = np.einsum("ni,ij->nij", std**2, np.eye(_NDIM))
    s = _H @ cov @ _H.T + r
    k = cov @ _H.T @ np.linalg.inv(s)
    innovation = np.asarray(z_xyah, dtype=np.float64) - mean @ _H.T
    new_mean = mean + np.einsum("nij,nj->ni", k, innovation)
    new_cov = cov - k @ _H @ cov
    return new_mean, new_cov
