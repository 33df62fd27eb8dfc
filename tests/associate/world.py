"""Seeded synthetic camera worlds for the association tests.

Each identity has a feature centroid and walks a random route through the cameras: it stays a
while in each camera and walks to the next one in about t_ij seconds (jittered). Each visit is
one tracklet (feature = centroid + noise), sometimes fragmented into two with a short gap, and
optionally some tracklets get an exact copy of another's feature to exercise tie-breaking.
"""

from __future__ import annotations

import numpy as np

from tastr_stream.associate import TrackletMeta, TransferPrior
from tastr_stream.config import StrPrior

CAMERAS = ("cam1", "cam2", "cam3", "cam4")
TRANSFER_S = {("cam1", "cam2"): 40.0, ("cam1", "cam3"): 80.0, ("cam1", "cam4"): 120.0,
              ("cam2", "cam3"): 45.0, ("cam2", "cam4"): 70.0, ("cam3", "cam4"): 30.0}


def make_prior(cfg: StrPrior | None = None, cameras=CAMERAS) -> TransferPrior:
    t = {k: v for k, v in TRANSFER_S.items() if k[0] in cameras and k[1] in cameras}
    return TransferPrior(t, cfg or StrPrior())


def make_world(seed: int, n_ids: int = 12, emb_dim: int = 16, noise: float = 0.15, cameras=CAMERAS,
               fragment_p: float = 0.2, twin_p: float = 0.0, quantise: float = 0.0,
               span_s: float = 300.0, version: int = 0) -> list[TrackletMeta]:
    """Tracklets of ``n_ids`` people; ids read ``<camera>:<person>:<visit>`` (person is ground truth)."""
    rng = np.random.default_rng(seed)
    out: list[TrackletMeta] = []
    for pid in range(n_ids):
        centroid = rng.standard_normal(emb_dim)
        centroid /= np.linalg.norm(centroid)
        route = rng.permutation(len(cameras))[: rng.integers(1, len(cameras) + 1)]
        t = float(rng.uniform(0, span_s))
        prev = None
        for visit, ci in enumerate(route):
            cam = cameras[ci]
            if prev is not None:
                key = (prev, cam) if (prev, cam) in TRANSFER_S else (cam, prev)
                t += TRANSFER_S[key] * float(rng.uniform(0.8, 1.2))
            dur = float(rng.uniform(3, 15))
            pieces = [(t, t + dur)]
            if rng.random() < fragment_p:
                cut = t + dur / 2
                pieces = [(t, cut), (cut + float(rng.uniform(0.5, 3.0)), t + dur + 3.0)]
            for k, (ts, te) in enumerate(pieces):
                feat = centroid + noise * rng.standard_normal(emb_dim) / np.sqrt(emb_dim)
                if quantise:
                    feat = np.round(feat / quantise) * quantise
                out.append(TrackletMeta(f"{cam}:p{pid:03d}:v{visit}{k}", cam, round(ts, 2), round(te, 2),
                                        feat, version))
            t = pieces[-1][1]
            prev = cam
    if twin_p:
        for i in range(1, len(out)):
            if rng.random() < twin_p:
                src = out[int(rng.integers(0, i))]
                m = out[i]
                out[i] = TrackletMeta(m.tracklet_id, m.camera_id, m.t_start_s, m.t_end_s, src.feature, version)
    return out


def person(tracklet_id: str) -> str:
    return tracklet_id.split(":")[1]
