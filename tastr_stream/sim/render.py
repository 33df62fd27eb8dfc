"""Render one camera: its video and its ground truth, frame by frame, from the world plan.

Ground truth comes from the same primitives that are drawn. Visibility is the share of a
person's silhouette that is inside the frame and not covered by someone nearer, measured on
flat masks (at most 360 rows, so 4K costs the same as 640x360); a keypoint is v=0 outside the
frame, v=1 when hidden (by a nearer person or by the body itself, e.g. a face turned away), else v=2.
Ground truth does not depend on whether video is written, so tests can skip the encoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .camera_view import CameraView, render_background
from .figure import Figure, build_figure, person_colours
from .optics import CameraOptics
from .paint import draw_figure, draw_mask
from .plan import Person, PlannedVisit
from .video import H264Writer

GT_COLUMNS = 10          # frame, pid, x, y, w, h, visibility, -1, -1, -1
KP_COLUMNS = 2 + 17 * 3  # frame, pid, (x, y, v) * 17
_MASK_MAX_ROWS = 360


@dataclass(frozen=True)
class CameraJob:
    view: CameraView
    size_wh: tuple[int, int]
    fps: int
    num_frames: int
    visits: tuple[tuple[PlannedVisit, Person], ...]
    video_path: str | None          # None: ground truth only
    crf: int = 23
    preset: str = "veryfast"
    threads: int = 1


@dataclass(frozen=True)
class CameraGt:
    camera_id: str
    rows: np.ndarray        # (M, 10) MOT rows, 1-based frames
    keypoints: np.ndarray   # (M, 53)


def _frame_range(visit: PlannedVisit, fps: int, num_frames: int) -> range:
    k0 = max(0, math.ceil(visit.trajectory.t_start_s * fps - 1e-9))
    k1 = min(num_frames - 1, math.floor(visit.trajectory.t_end_s * fps + 1e-9))
    return range(k0, k1 + 1)


def _ground_truth(figs: list[tuple[int, Figure]], size_wh, scale: float, frame_no: int):
    """MOT and keypoint rows for the figures of one frame (sorted far to near)."""
    w, h = size_wh
    mw, mh = max(1, round(w * scale)), max(1, round(h * scale))
    label = np.zeros((mh, mw), np.uint8)
    totals, in_frame, rects = [], [], []
    for n, (_, fig) in enumerate(figs, start=1):
        x0, y0 = math.floor(fig.box_xyxy[0] * scale) - 1, math.floor(fig.box_xyxy[1] * scale) - 1
        x1, y1 = math.ceil(fig.box_xyxy[2] * scale) + 1, math.ceil(fig.box_xyxy[3] * scale) + 1
        local = np.zeros((y1 - y0, x1 - x0), np.uint8)
        draw_mask(local, fig.prims, scale, (-x0, -y0))
        totals.append(max(1, int(np.count_nonzero(local))))
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, mw), min(y1, mh)
        rects.append((cy0, cy1, cx0, cx1))
        if cx1 <= cx0 or cy1 <= cy0:
            in_frame.append(0)
            continue
        part = local[cy0 - y0: cy1 - y0, cx0 - x0: cx1 - x0] > 0
        in_frame.append(int(np.count_nonzero(part)))
        label[cy0:cy1, cx0:cx1][part] = n
    rows, kp_rows = [], []
    for n, (pid, fig) in enumerate(figs, start=1):
        if in_frame[n - 1] == 0:
            continue
        bx = np.clip(fig.box_xyxy, [0, 0, 0, 0], [w, h, w, h]).astype(np.float64)
        cy0, cy1, cx0, cx1 = rects[n - 1]
        vis = np.count_nonzero(label[cy0:cy1, cx0:cx1] == n) / totals[n - 1]
        rows.append([frame_no, pid, bx[0], bx[1], bx[2] - bx[0], bx[3] - bx[1], min(1.0, vis), -1, -1, -1])
        kp = np.zeros((17, 3))
        kp[:, :2] = fig.keypoints_xy
        inside = (kp[:, 0] >= 0) & (kp[:, 0] < w) & (kp[:, 1] >= 0) & (kp[:, 1] < h)
        mx = np.clip((kp[:, 0] * scale).astype(int), 0, mw - 1)
        my = np.clip((kp[:, 1] * scale).astype(int), 0, mh - 1)
        owner = label[my, mx]
        covered = (owner != 0) & (owner != n)
        kp[:, 2] = np.where(~inside, 0, np.where(covered | ~fig.keypoints_seen, 1, 2))
        kp_rows.append([frame_no, pid, *kp.ravel()])
    return rows, kp_rows


def render_camera(job: CameraJob, progress=None) -> CameraGt:
    """Draw every frame of one camera; ``progress(n_frames)`` is called now and then."""
    view, (w, h), fps = job.view, job.size_wh, job.fps
    scale = min(1.0, _MASK_MAX_ROWS / h)
    starts: dict[int, list] = {}
    for visit, person in job.visits:
        frames = _frame_range(visit, fps, job.num_frames)
        if len(frames) == 0:
            continue
        state = visit.trajectory.state(np.arange(frames.start, frames.stop) / fps)
        colours = person_colours(person.appearance, view)
        starts.setdefault(frames.start, []).append((frames, visit, person, colours, state))
    background = render_background(view, job.size_wh) if job.video_path else None
    optics = CameraOptics(job.size_wh, view.layout_seed, background=background) if job.video_path else None
    writer = (H264Writer(Path(job.video_path), job.size_wh, fps, crf=job.crf, preset=job.preset,
                         threads=job.threads) if job.video_path else None)
    active: list = []
    gt_rows, kp_rows = [], []
    ok = False
    try:
        for k in range(job.num_frames):
            active = [a for a in active if a[0].stop > k] + starts.get(k, [])
            figs = []
            for frames, visit, person, colours, st in active:
                i = k - frames.start
                fig = build_figure(view, job.size_wh, person.height_m, person.appearance, colours,
                                   st["x_m"][i], st["z_m"][i], st["heading_rad"][i], st["walked_m"][i],
                                   st["amp"][i], visit.gait_phase0_rad)
                b = fig.box_xyxy
                if b[2] > 0 and b[0] < w and b[3] > 0 and b[1] < h:
                    figs.append((person.pid, fig))
            figs.sort(key=lambda pf: -pf[1].depth_m)
            if figs:
                rows, kps = _ground_truth(figs, job.size_wh, scale, k + 1)
                gt_rows += rows
                kp_rows += kps
            if writer is not None:
                img = background.copy()
                for _, fig in figs:
                    draw_figure(img, fig.prims)
                writer.write(optics.apply(img, k, [fig.box_xyxy for _, fig in figs]))
            if progress is not None and (k + 1) % 60 == 0:
                progress(60)
        if progress is not None:
            progress(job.num_frames % 60)
        ok = True
    finally:
        if writer is not None:
            writer.close() if ok else writer.abort()
    return CameraGt(view.camera_id, np.array(gt_rows, dtype=np.float64).reshape(-1, GT_COLUMNS),
                    np.array(kp_rows, dtype=np.float64).reshape(-1, KP_COLUMNS))
