"""A seeded toy multi-camera world of coloured figure crops, for tests, benchmarks and ablations.

Not the rendered synthetic world (``sim/``): this draws person crops directly, so an
experiment over hundreds of tracklets builds in about a second and needs no video. What it
keeps of the real problem is what TASTR's parts are about:

- cameras on a chain joined by walkways with known mean transfer times t_ij; walkers visit
  2-3 consecutive cameras and take ``t_ij * own speed factor`` between leaving one view and
  entering the next (what STR models); distractors appear in one camera only;
- a per-camera colour cast, brightness and background, so a model trained within cameras
  only has never had to see past the camera (what cross-camera rounds fix);
- a share of people dressed almost like an earlier person, so appearance alone is ambiguous
  (what STR and k-means refine);
- some visits fragmented into two tracklets a moment apart (the ID duplication TSCCC avoids).
Images are uint8 RGB; times are seconds on one clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..config.network import Camera, Network, Path
from ..eval.protocol import campus4k_split
from .data import TrainTracklet
from .evaluation import EVAL_TICKS_PER_S, ExperimentData, eval_meta

FRAME_STEP_S = 0.1      # one crop every 0.1 s, like Campus-4K's every 3rd frame at 30 fps


@dataclass(frozen=True)
class ToyWorldSpec:
    cameras: int = 4
    walkers: int = 160
    distractors: int = 30
    duration_s: float = 2400.0
    hop_transfer_s: tuple[float, float] = (40.0, 90.0)    # range of t_ij between neighbouring cameras
    speed_std: float = 0.06                              # per-person speed factor ~ N(1, std)
    visit_s: tuple[float, float] = (3.0, 7.0)
    images_per_tracklet: int = 12
    image_hw: tuple[int, int] = (64, 32)
    confusable_fraction: float = 0.4
    fragment_fraction: float = 0.15
    camera_cast: float = 0.15                            # +- per-channel colour cast per camera
    camera_background_std: float = 25.0                  # spread of the cameras' mean backgrounds
    background_std: float = 40.0                         # per-image spread around the camera's background
    split_fraction: float = 0.6                          # train = tracklets starting before this share
    seed: int = 0


@dataclass(frozen=True)
class _Look:
    top: np.ndarray
    bottom: np.ndarray
    hair: np.ndarray
    bag: np.ndarray | None
    stripe: bool


@dataclass(frozen=True)
class _Cam:
    cast: np.ndarray         # per-channel multiplier
    gain: float
    background: np.ndarray


def _looks(n: int, confusable: float, rng: np.random.Generator) -> list[_Look]:
    out: list[_Look] = []
    for i in range(n):
        if i > 0 and rng.random() < confusable:
            src = out[int(rng.integers(len(out)))]
            jit = lambda c: np.clip(c + rng.normal(0, 8, 3), 0, 255)   # noqa: E731
            out.append(_Look(jit(src.top), jit(src.bottom), src.hair,
                             None if rng.random() < 0.5 else rng.uniform(20, 235, 3), src.stripe))
        else:
            out.append(_Look(rng.uniform(20, 235, 3), rng.uniform(20, 200, 3), rng.uniform(10, 120, 3),
                             rng.uniform(20, 235, 3) if rng.random() < 0.4 else None, bool(rng.random() < 0.3)))
    return out


def _draw(look: _Look, cam: _Cam, hw: tuple[int, int], phase: float, bg_std: float,
          rng: np.random.Generator) -> np.ndarray:
    h, w = hw
    img = np.empty((h, w, 3), np.float32)
    # What is behind a walker changes as they cross the view: wall above, pavement below a random
    # row, both drawn around the camera's look. Background then identifies the camera a little,
    # the person never.
    horizon = int(rng.integers(h // 4, 3 * h // 4))
    img[:horizon] = np.clip(cam.background + rng.normal(0, bg_std, 3), 0, 255)
    img[horizon:] = np.clip(cam.background * 0.8 + rng.normal(0, bg_std, 3), 0, 255)
    img += np.linspace(-15, 15, h, dtype=np.float32)[:, None, None]
    s = h / 64.0 * rng.uniform(0.9, 1.05)
    cx = w / 2 + rng.uniform(-2, 2) * s
    top_y = 4 * s + rng.uniform(-2, 2)
    c = lambda v: tuple(float(x) for x in v)   # noqa: E731
    i = lambda v: int(round(v))                # noqa: E731
    cv2.circle(img, (i(cx), i(top_y + 6 * s)), i(5 * s), c((200, 160, 130)), -1)      # face
    cv2.ellipse(img, (i(cx), i(top_y + 4 * s)), (i(5 * s), i(3 * s)), 0, 180, 360, c(look.hair), -1)
    cv2.rectangle(img, (i(cx - 7 * s), i(top_y + 12 * s)), (i(cx + 7 * s), i(top_y + 33 * s)), c(look.top), -1)
    if look.stripe:
        cv2.rectangle(img, (i(cx - 7 * s), i(top_y + 20 * s)), (i(cx + 7 * s), i(top_y + 24 * s)),
                      c(255 - look.top), -1)
    if look.bag is not None:
        cv2.rectangle(img, (i(cx + 5 * s), i(top_y + 16 * s)), (i(cx + 10 * s), i(top_y + 28 * s)), c(look.bag), -1)
    spread = 3 * s * np.sin(phase)
    for side in (-1, 1):
        x0 = cx + side * 3.5 * s
        cv2.line(img, (i(x0), i(top_y + 33 * s)), (i(x0 + side * spread), i(top_y + 57 * s)), c(look.bottom),
                 max(1, i(4 * s)))
        cv2.line(img, (i(cx + side * 7 * s), i(top_y + 13 * s)),
                 (i(cx + side * (8 * s) - spread * side * 0.5), i(top_y + 30 * s)), c(look.top), max(1, i(3 * s)))
    img = img * cam.cast[None, None, :] * cam.gain + rng.normal(0, 5, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _tracklet(tid: str, cam_id: str, t0: float, t1: float, pid: int, look: _Look, cam: _Cam,
              spec: ToyWorldSpec, rng: np.random.Generator) -> TrainTracklet:
    n_frames = max(1, int((t1 - t0) / FRAME_STEP_S))
    n = min(spec.images_per_tracklet, n_frames)
    phase0 = rng.uniform(0, 2 * np.pi)
    frames = np.linspace(0, n_frames - 1, n).round().astype(int)
    images = [_draw(look, cam, spec.image_hw, phase0 + 0.9 * f, spec.background_std, rng) for f in frames]
    return TrainTracklet(tid, cam_id, round(t0, 3), round(t1, 3), images, pid)


def toy_network(spec: ToyWorldSpec, rng: np.random.Generator) -> tuple[Network, np.ndarray]:
    """Cameras cam1..camN on a chain; t_ij sums the hops between them."""
    hops = rng.uniform(*spec.hop_transfer_s, size=spec.cameras - 1).round(1)
    pos = np.concatenate([[0.0], np.cumsum(hops)])
    t = np.abs(pos[:, None] - pos[None, :])
    ids = [f"cam{i + 1}" for i in range(spec.cameras)]
    paths = [Path(a=ids[i], b=ids[j], transfer_s=float(t[i, j]))
             for i in range(spec.cameras) for j in range(i + 1, spec.cameras)]
    return Network(name="toy", cameras=[Camera(id=c) for c in ids], paths=paths), t


def make_toy_world(spec: ToyWorldSpec = ToyWorldSpec()) -> ExperimentData:
    """Train tracklets (those starting before the split) and the Campus-4K-protocol test split."""
    rng = np.random.default_rng(spec.seed)
    network, t_ij = toy_network(spec, rng)
    ids = network.camera_ids
    cams = [_Cam(1.0 + rng.uniform(-spec.camera_cast, spec.camera_cast, 3), float(rng.uniform(0.85, 1.15)),
                 np.clip(128 + rng.normal(0, spec.camera_background_std, 3), 30, 225)) for _ in ids]
    looks = _looks(spec.walkers + spec.distractors, spec.confusable_fraction, rng)
    tracklets: list[TrainTracklet] = []
    for pid in range(1, spec.walkers + spec.distractors + 1):
        look = looks[pid - 1]
        if pid <= spec.walkers:
            n_visits = int(rng.integers(2, 4))
            start = int(rng.integers(spec.cameras))
            step = 1 if rng.random() < 0.5 else -1
            route = [start + step * k for k in range(n_visits)]
            route = [c for c in route if 0 <= c < spec.cameras]
            if len(route) < 2:
                route = [start, start - step]
        else:
            route = [int(rng.integers(spec.cameras))]
        speed = max(0.7, rng.normal(1.0, spec.speed_std))
        t = rng.uniform(0, spec.duration_s * 0.95)
        for k, cam in enumerate(route):
            if k > 0:
                t += t_ij[route[k - 1], cam] * speed
            dur = rng.uniform(*spec.visit_s)
            base = f"{ids[cam]}:p{pid}v{k}"
            if rng.random() < spec.fragment_fraction and dur > 2.0:
                cut = t + dur * rng.uniform(0.35, 0.65)
                tracklets.append(_tracklet(base + "a", ids[cam], t, cut - 0.3, pid, look, cams[cam], spec, rng))
                tracklets.append(_tracklet(base + "b", ids[cam], cut, t + dur, pid, look, cams[cam], spec, rng))
            else:
                tracklets.append(_tracklet(base, ids[cam], t, t + dur, pid, look, cams[cam], spec, rng))
            t += dur
    tracklets.sort(key=lambda tr: (tr.t_start_s, tr.tracklet_id))
    by_id = {tr.tracklet_id: tr for tr in tracklets}
    split_s = spec.split_fraction * spec.duration_s
    split = campus4k_split([eval_meta(tr) for tr in tracklets], split_frame=int(split_s * EVAL_TICKS_PER_S),
                           seed=spec.seed)
    train = [tr for tr in tracklets if tr.t_start_s < split_s]
    return ExperimentData(train=train, query=[by_id[m.tracklet_id] for m in split.query],
                          gallery=[by_id[m.tracklet_id] for m in split.gallery], network=network,
                          name=f"toy-seed{spec.seed}")
