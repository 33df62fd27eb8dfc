"""Zero-label starting models (version 0) on the fixed quality world: what each piece does (issue 11, item 2).

No training anywhere: every row is a model a site could serve before it has seen a single label.
The crops are the ground-truth visits of ``configs/world_quality.toml`` (``train.world_crops``, the
crops ``train --table4`` uses: 256x128, at most 60 per visit, seed 0); a tracklet's feature is the
mean of its crops' embeddings, as in the live system, and distances are Euclidean. Two protocols:

- ``split``: the Campus-4K protocol of ``world_experiment`` (one query per test identity against
  the test gallery) -- what ``train --table4`` reports, but only a couple of dozen queries;
- ``all``: every visit is a query against every other visit (same person in the same camera
  removed): about 200 queries, so a difference of 2 points is about one standard error.

Rows (all but the first and last are the fused head's blocks scored on their own, before the
projection to ``emb_dim``; each block L2-normalised per crop):

- old v0: ``mobilenetv2`` (global average pooling, random Linear 1280->512 + BN);
- GeM: the same trunk map, GeM (p=3) over the whole crop, no projection;
- GeM 4 stripes: GeM per horizontal stripe, each stripe unit length;
- colour (no balance), colour (grey-world): ``models.colour.LabStripeHistogram``;
- fused, colour weight w: ``[sqrt(1-w^2) * stripes, w * colour]``;
- new v0 as served: ``mobilenetv2+partcolour`` at ``--emb-dim`` (the fused vector through its
  seeded orthogonal projection; computed on the same trunk pass, checked equal to ``model(x)``).

    .venv/bin/python benchmarks/bench_zero_label.py [--spec configs/world_quality.toml] [--emb-dim 512]
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

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tastr_stream.eval import distance_matrix, evaluate_rank  # noqa: E402
from tastr_stream.models import build_reid_model  # noqa: E402
from tastr_stream.models.colour import LabStripeHistogram  # noqa: E402
from tastr_stream.models.partcolour import gem_stripes  # noqa: E402
from tastr_stream.models.preprocess import to_input  # noqa: E402
from tastr_stream.train.data import fetch_images  # noqa: E402
from tastr_stream.train.sources import render_world_spec  # noqa: E402
from tastr_stream.train.world_crops import CropSettings, world_experiment  # noqa: E402

COLOUR_WEIGHTS = (0.5, 0.7, 0.8, 0.9, 1.0)


def block_means(tracklets, emb_dim: int, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Per tracklet, the mean over its crops of each block (one trunk pass serves every row)."""
    old = build_reid_model("mobilenetv2", 512, seed=0)
    new = build_reid_model("mobilenetv2+partcolour", emb_dim, seed=0)
    if not all(torch.equal(a, b) for a, b in zip(old.trunk.state_dict().values(), new.trunk.state_dict().values())):
        raise SystemExit("old and new v0 do not share the packaged trunk weights")
    raw_colour = LabStripeHistogram(balance=False)
    items = [(ti, ii) for ti, t in enumerate(tracklets) for ii in range(t.num_images)]
    owner = torch.tensor([ti for ti, _ in items])
    sums: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        for start in range(0, len(items), batch_size):
            x = to_input(fetch_images(tracklets, items[start:start + batch_size], 256, 128), "cpu", channels_last=False)
            fm = new.trunk(x)
            stripes = gem_stripes(fm, new.cnn_stripes)
            colour = new.colour(x)
            natural = torch.cat([new.cnn_weight * stripes, new.colour_weight * colour], 1)
            served = new.proj(natural) * new.out_scale
            if start == 0 and not torch.allclose(served, new(x), rtol=1e-4, atol=1e-4):
                raise SystemExit("decomposed forward differs from model(x)")
            out = {"old": old.bn(old.fc(fm.mean((2, 3)))), "gem": gem_stripes(fm, 1), "stripes": stripes,
                   "colour_raw": raw_colour(x), "colour": colour, "served": served}
            for key, v in out.items():
                acc = sums.setdefault(key, torch.zeros(len(tracklets), v.shape[1], dtype=torch.float64))
                acc.index_add_(0, owner[start:start + batch_size], v.double())
    counts = torch.bincount(owner, minlength=len(tracklets)).double().unsqueeze(1)
    return {k: (v / counts).numpy() for k, v in sums.items()}


def scores(feats: np.ndarray, is_query: np.ndarray, is_gallery: np.ndarray, pid: np.ndarray, cam: np.ndarray) -> list:
    split = evaluate_rank(distance_matrix(feats[is_query], feats[is_gallery]), pid[is_query], pid[is_gallery],
                          cam[is_query], cam[is_gallery])
    every = evaluate_rank(distance_matrix(feats, feats), pid, pid, cam, cam)
    return [split, every]


def separation(feats: np.ndarray, pid: np.ndarray, cam: np.ndarray) -> tuple[float, float, float]:
    """Median same-person distance (across cameras), median and 1 % quantile of different-person distances."""
    d = distance_matrix(feats, feats)
    same = (pid[:, None] == pid[None]) & (cam[:, None] != cam[None])
    diff = pid[:, None] != pid[None]
    return float(np.median(d[same])), float(np.median(d[diff])), float(np.quantile(d[diff], 0.01))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(ROOT / "configs/world_quality.toml"))
    ap.add_argument("--emb-dim", type=int, default=512)
    args = ap.parse_args()
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    t0 = time.perf_counter()
    data = world_experiment(render_world_spec(args.spec), CropSettings(crop_hw=(256, 128), max_images=60, seed=0))
    tracklets = data.train + data.query + data.gallery
    kind = np.array([0] * len(data.train) + [1] * len(data.query) + [2] * len(data.gallery))
    pid = np.array([t.pid_gt for t in tracklets])
    cam = np.array([t.camera_id for t in tracklets])
    blocks = block_means(tracklets, args.emb_dim)
    print(f"# bench_zero_label — {datetime.date.today()} — {platform.machine()} {platform.processor() or ''} "
          f"cpus={os.cpu_count()} torch {torch.__version__} — command: "
          f"{shlex.join(['.venv/bin/python', 'benchmarks/bench_zero_label.py'] + sys.argv[1:])}")
    print(f"world {Path(args.spec).name}: {len(tracklets)} ground-truth visits, {sum(t.num_images for t in tracklets)} "
          f"crops; split: {len(data.query)} queries / {len(data.gallery)} gallery; "
          f"{time.perf_counter() - t0:.0f} s to crop and embed")
    w_new = build_reid_model("mobilenetv2+partcolour", args.emb_dim, pretrained=False).colour_weight
    rows = [("old v0: mobilenetv2 (avg pool, random fc+BN)", blocks["old"]),
            ("GeM (p=3), whole crop", blocks["gem"]),
            ("GeM, 4 stripes", blocks["stripes"]),
            ("colour: Lab stripes, no balance", blocks["colour_raw"]),
            ("colour: Lab stripes, grey-world", blocks["colour"]),
            ("fused w=0.9, colour without balance",
             np.concatenate([np.sqrt(1 - 0.81) * blocks["stripes"], 0.9 * blocks["colour_raw"]], 1))]
    for w in COLOUR_WEIGHTS:
        rows.append((f"fused, colour weight w={w}" + (" (natural)" if w == w_new else ""),
                     np.concatenate([np.sqrt(1 - w * w) * blocks["stripes"], w * blocks["colour"]], 1)))
    rows.append((f"new v0: mobilenetv2+partcolour, {args.emb_dim}-d", blocks["served"]))
    print("\n| v0 variant | split r1 % | split r5 % | split mAP % | all r1 % | all r5 % | all mAP % |"
          " same / diff median, diff 1 % |")
    print("|---|---|---|---|---|---|---|---|")
    for name, feats in rows:
        split, every = scores(feats, kind == 1, kind == 2, pid, cam)
        same, diff, diff_p1 = separation(feats, pid, cam)
        print(f"| {name} | {100 * split.rank(1):.1f} | {100 * split.rank(5):.1f} | {100 * split.mAP:.1f} | "
              f"{100 * every.rank(1):.1f} | {100 * every.rank(5):.1f} | {100 * every.mAP:.1f} | "
              f"{same:.3g} / {diff:.3g}, {diff_p1:.3g} |")
    print(f"\nall: {every.num_valid_queries} valid queries; split: {split.num_valid_queries}. Distances are of "
          f"tracklet means (old v0 and new v0 at their served scale; block rows have unit-length crops).")


if __name__ == "__main__":
    main()
