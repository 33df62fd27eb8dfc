"""Seeded synthetic tracklets with real JPEG crops, shared by the store tests and the crash
writer subprocess (which imports this file by path)."""

from __future__ import annotations

import cv2
import numpy as np

from tastr_stream.wire.records import Tracklet


def jpeg(seed: int, h: int = 64, w: int = 32, noise: bool = False) -> bytes:
    """A real JPEG: a smooth gradient plus a seeded colour block, so crops differ; ``noise``
    makes it incompressible (~50 KB at 256x128), for byte-budget tests."""
    rng = np.random.default_rng(seed)
    if noise:
        ok, buf = cv2.imencode(".jpg", rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        assert ok
        return buf.tobytes()
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[:] = rng.integers(0, 255, 3, dtype=np.uint8)
    img[: h // 2] = np.linspace(0, 255, w, dtype=np.uint8)[None, :, None]
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def make_tracklet(i: int, camera_id: str = "cam1", t_start_s: float | None = None, n_crops: int = 3,
                  dim: int = 16, model_version: int = 0, n_frames: int = 6, session: str = "s0",
                  local_track_id: int | None = None, crop_hw: tuple[int, int] = (64, 32),
                  noise: bool = False) -> Tracklet:
    rng = np.random.default_rng(1000 + i)
    t0 = float(100.0 + 10.0 * i) if t_start_s is None else float(t_start_s)
    times = t0 + np.arange(n_frames) / 10.0
    xy = rng.uniform(0, 1000, size=(n_frames, 2))
    boxes = np.column_stack([xy, xy + [40, 100]]).astype(np.float32)
    crops = tuple(jpeg(i * 100 + k, *crop_hw, noise=noise) for k in range(n_crops))
    ltid = i if local_track_id is None else local_track_id
    return Tracklet(
        tracklet_id=f"{camera_id}:{session}:{i}", camera_id=camera_id, local_track_id=ltid,
        t_start_s=float(times[0]), t_end_s=float(times[-1]), frame_times_s=times, boxes_xyxy=boxes,
        crops_jpeg=crops, crop_times_s=np.linspace(times[0], times[-1], n_crops),
        embedding=rng.normal(size=dim).astype(np.float32) if dim else None, model_version=model_version,
    )
