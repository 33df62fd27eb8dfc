"""What head blur costs Re-ID (issue 13, privacy): v0 rank-1 / mAP with and without ``blur_heads``.

The crops are the ground-truth visits of ``configs/world_quality.toml`` as ``train.world_crops``
plans them (every 3rd frame, visible >= 50 %, at least 24 px tall, at most 60 per visit, seed 0),
cut by the edge's own ``tracklet.crops.cut_crop`` at 256x128 -- once plain, once with the head
blurred from the ground-truth keypoints (scored as the oracle detector scores them), exactly as
an ingest daemon with ``blur_heads = true`` cuts them. Gallery and query come from the same kind
of crop in each row, as in the live system. Also the mixed case the design forbids (blurred
gallery, plain query: an unblurred image-search upload), and "upload-style": queries blurred
without keypoints (top 18 % of the crop), as image search blurs an upload.

Model: the served v0 (``model.backbone`` default at ``--emb-dim``, no training); a
tracklet's feature is the mean of its crops' embeddings, Euclidean distances. Protocols as in
``bench_zero_label``: ``split`` (Campus-4K: one query per test identity) and ``all`` (every visit
against every other, same camera removed).

    .venv/bin/python benchmarks/bench_privacy.py [--spec configs/world_quality.toml] [--emb-dim 512]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tastr_stream.config.model import ModelConfig  # noqa: E402
from tastr_stream.datasets.synthetic import SyntheticWorld  # noqa: E402
from tastr_stream.detect.oracle import keypoint_scores_from_flags  # noqa: E402
from tastr_stream.eval import distance_matrix, evaluate_rank  # noqa: E402
from tastr_stream.eval.protocol import DEFAULT_SPLIT_FRACTION, campus4k_split  # noqa: E402
from tastr_stream.models import build_reid_model  # noqa: E402
from tastr_stream.tracklet.crops import blur_head_fallback, cut_crop  # noqa: E402
from tastr_stream.train.data import TrainTracklet  # noqa: E402
from tastr_stream.train.embed import embed_tracklets  # noqa: E402
from tastr_stream.train.evaluation import EVAL_TICKS_PER_S, eval_meta  # noqa: E402
from tastr_stream.train.sources import render_world_spec  # noqa: E402
from tastr_stream.train.world_crops import CropSettings  # noqa: E402

CROP_HW = (256, 128)


def plan(world, s: CropSettings) -> tuple[list, dict]:
    """``world_crops._plan`` keeping each ground-truth box (with its keypoints), not only its corners."""
    rng = np.random.default_rng(s.seed)
    kept, wanted = [], {}
    for cam in world.camera_ids:
        gt = world.gt_frames(cam)
        for v in sorted((v for v in world.visits if v.camera_id == cam), key=lambda v: (v.first_frame, v.pid)):
            frames = [(f, b) for f in range(v.first_frame, v.last_frame + 1, s.frame_step)
                      for b in gt.get(f, []) if b.pid == v.pid and b.visibility >= s.min_visibility
                      and b.box_xyxy[3] - b.box_xyxy[1] >= s.min_box_height_px]
            if len(frames) < s.min_images:
                continue
            if len(frames) > s.max_images:
                frames = [frames[i] for i in np.sort(rng.choice(len(frames), s.max_images, replace=False))]
            kept.append(v)
            for f, box in frames:
                wanted.setdefault(cam, {}).setdefault(f, []).append((len(kept) - 1, box))
    return kept, wanted


def cut_all(world, kept, wanted) -> dict[str, list[list[np.ndarray]]]:
    """Per visit, its crops (RGB) plain, head-blurred from keypoints, and blurred without keypoints."""
    out = {k: [[] for _ in kept] for k in ("plain", "blur", "blur_top")}
    for cam, by_frame in wanted.items():
        cap = cv2.VideoCapture(str(world.video_path(cam)))
        for frame_no in range(1, max(by_frame) + 1):
            ok, img = cap.read()
            if not ok:
                raise SystemExit(f"{world.video_path(cam)} ends at frame {frame_no - 1}")
            for idx, box in by_frame.get(frame_no, ()):
                kps = np.asarray(box.keypoints, np.float64).reshape(17, 3).copy()
                kps[:, 2] = keypoint_scores_from_flags(kps[:, 2])
                plain = cut_crop(img, np.asarray(box.box_xyxy), CROP_HW)
                if plain is None:
                    continue
                blurred = cut_crop(img, np.asarray(box.box_xyxy), CROP_HW, blur_head=True, keypoints=kps)
                for kind, crop in (("plain", plain), ("blur", blurred), ("blur_top", blur_head_fallback(plain))):
                    out[kind][idx].append(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
        cap.release()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(ROOT / "configs/world_quality.toml"))
    ap.add_argument("--backbone", default=ModelConfig().backbone, help="v0 architecture (default: the served one)")
    ap.add_argument("--emb-dim", type=int, default=512)
    args = ap.parse_args()
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    t0 = time.perf_counter()
    world_dir = render_world_spec(args.spec)
    world = SyntheticWorld.open(world_dir)
    settings = CropSettings(crop_hw=CROP_HW, max_images=60, seed=0)
    kept, wanted = plan(world, settings)
    crops = cut_all(world, kept, wanted)
    keep = [i for i, c in enumerate(crops["plain"]) if len(c) >= settings.min_images]

    def tracklets(kind: str) -> list[TrainTracklet]:
        return [TrainTracklet(f"{kept[i].camera_id}:p{kept[i].pid}f{kept[i].first_frame}", kept[i].camera_id,
                              world.frame_time_s(kept[i].first_frame), world.frame_time_s(kept[i].last_frame),
                              crops[kind][i], kept[i].pid) for i in keep]

    plain = tracklets("plain")
    split = campus4k_split([eval_meta(t) for t in plain], split_frame=None, split_fraction=DEFAULT_SPLIT_FRACTION,
                           seed=settings.seed)
    index = {t.tracklet_id: i for i, t in enumerate(plain)}
    q_idx = np.array([index[m.tracklet_id] for m in split.query])
    g_idx = np.array([index[m.tracklet_id] for m in split.gallery])
    pid = np.array([t.pid_gt for t in plain])
    cam = np.array([t.camera_id for t in plain])
    model = build_reid_model(args.backbone, args.emb_dim, seed=0)
    device = torch.device("cpu")
    feats = {kind: embed_tracklets(model, tracklets(kind), device, *CROP_HW) for kind in crops}

    def row(name: str, q: np.ndarray, g: np.ndarray) -> str:
        s = evaluate_rank(distance_matrix(q[q_idx], g[g_idx]), pid[q_idx], pid[g_idx], cam[q_idx], cam[g_idx])
        a = evaluate_rank(distance_matrix(q, g), pid, pid, cam, cam)
        return (f"| {name} | {100 * s.rank(1):.1f} | {100 * s.mAP:.1f} | {100 * a.rank(1):.1f} | {100 * a.rank(5):.1f} "
                f"| {100 * a.mAP:.1f} |"), a

    print(f"# bench_privacy — {datetime.date.today()} — {platform.machine()} {platform.processor() or ''} "
          f"cpus={os.cpu_count()} torch {torch.__version__} — command: "
          f"{shlex.join(['.venv/bin/python', 'benchmarks/bench_privacy.py'] + sys.argv[1:])}")
    print(f"world {Path(args.spec).name} ({world_dir}): {len(plain)} ground-truth visits, "
          f"{sum(t.num_images for t in plain)} crops of {CROP_HW[0]}x{CROP_HW[1]}; split: {len(q_idx)} queries / "
          f"{len(g_idx)} gallery; v0 = {args.backbone} {args.emb_dim}-d untrained; {time.perf_counter() - t0:.0f} s")
    print("\n| crops (query vs gallery) | split r1 % | split mAP % | all r1 % | all r5 % | all mAP % |")
    print("|---|---|---|---|---|---|")
    lines = [row("plain vs plain (blur_heads = false)", feats["plain"], feats["plain"]),
             row("blurred vs blurred (blur_heads = true, the default)", feats["blur"], feats["blur"]),
             row("upload-style query (top 18 %) vs blurred gallery", feats["blur_top"], feats["blur"]),
             row("plain query vs blurred gallery (inconsistent: what image search must not do)",
                 feats["plain"], feats["blur"])]
    for text, _ in lines:
        print(text)
    print(f"\nall: {lines[0][1].num_valid_queries} valid queries. Blurred from keypoints (COCO 0-4 with score >= 0.3), "
          f"else the top 18 % of the box; {time.perf_counter() - t0:.0f} s in all.")


if __name__ == "__main__":
    main()
