"""The TASTR schedule on the fixed quality world (issue 11, items 1, 3, 4): does self-training help?

The crops are the ground-truth visits of ``configs/world_quality.toml`` (the crops
``bench_zero_label`` scores: 256x128, at most 60 per visit; "oracle tracking", so the figures
measure training and association alone). Every visit is a training tracklet -- a site trains on
its own video, without labels -- and the evaluation is the ``all`` protocol: every visit a query
against every other (same person in the same camera removed), about 200 queries, so about 2
points of rank-1 is one standard error. Ground truth is read only to score.

Rows:

- v0: the zero-label model as served (``mobilenetv2+partcolour``);
- S1 and rounds 1..R: ``train.rounds.run_rounds`` -- TSCCC round 0, then batch NN-CCTA (STR +
  k-means, the associator's configured settings) -> TCCPC rounds, with the configured recipe
  (``head`` by default: ``train/head.py``); per round the associated pairs' count, precision
  and recall against ground truth (the paper's Fig. 7);
- supervised: the same recipe and number of steps, ground-truth identities in P x K batches --
  the upper bound the unsupervised rounds are measured against; the report gives the share of
  the v0 -> supervised rank-1 gap the rounds close;
- with ``--table4``: the paper's Table IV on this world, four association variants from one S1
  model per seed, ``--seeds`` training seeds (sampler, mirror draws and the seeded projection).

The crops' descriptors (one trunk pass per crop and mirror) are cached under ``--cache``; the
rest takes minutes.

    .venv/bin/python benchmarks/bench_rounds.py [--rounds 5] [--table4 --seeds 0 1 2] [--recipe head|full]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tastr_stream.config.associator import Association  # noqa: E402
from tastr_stream.config.trainer import TrainerConfig  # noqa: E402
from tastr_stream.models import build_reid_model  # noqa: E402
from tastr_stream.train.evaluation import ExperimentData, evaluate_features  # noqa: E402
from tastr_stream.train.recipe import HeadOnly, make_recipe  # noqa: E402
from tastr_stream.train.rounds import run_rounds  # noqa: E402
from tastr_stream.train.samplers import Batch  # noqa: E402
from tastr_stream.train.sources import render_world_spec  # noqa: E402
from tastr_stream.train.table4 import format_table, run_table4  # noqa: E402
from tastr_stream.train.world_crops import CropSettings, load_world_tracklets  # noqa: E402


class GroundTruthPK:
    """P identities x K crops per batch from ground-truth labels: the supervised bound's sampler only."""

    def __init__(self, tracklets, p: int, k: int, seed: int) -> None:
        self.tracklets, self.p, self.k = tracklets, p, k
        self.rng = np.random.default_rng(seed)
        self.by_pid: dict[int, list[int]] = {}
        for i, t in enumerate(tracklets):
            self.by_pid.setdefault(t.pid_gt, []).append(i)
        self.pids = sorted(self.by_pid)

    def __len__(self) -> int:
        return len(self.pids) // self.p

    def __iter__(self):
        order = self.rng.permutation(self.pids)
        for start in range(0, len(order) - self.p + 1, self.p):
            items, labels = [], []
            for label, pid in enumerate(order[start:start + self.p]):
                for _ in range(self.k):
                    t = int(self.rng.choice(self.by_pid[int(pid)]))
                    items.append((t, int(self.rng.integers(self.tracklets[t].num_images))))
                    labels.append(label)
            yield Batch(items, np.array(labels, dtype=np.int64))


def load_visits(spec: str):
    """(world, every ground-truth visit once) with the bench_zero_label crops."""
    world, tracklets = load_world_tracklets(render_world_spec(spec), CropSettings(crop_hw=(256, 128), max_images=60,
                                                                                  seed=0))
    seen, unique = set(), []
    for t in tracklets:
        if t.tracklet_id not in seen:
            seen.add(t.tracklet_id)
            unique.append(t)
    return world, unique


def cached_recipe(cfg: TrainerConfig, model, visits, cache: Path) -> HeadOnly:
    """The head recipe with every visit's descriptors, from ``cache`` when it matches these crops."""
    recipe = make_recipe(cfg, torch.device("cpu"), model, progress=True)
    if not isinstance(recipe, HeadOnly):
        return recipe
    key = {"ids": [t.tracklet_id for t in visits], "n": [t.num_images for t in visits], "spec": model.spec()}
    if cache.is_file():
        saved = torch.load(cache, weights_only=False)
        if saved.get("key") == key:
            recipe.add_cached(saved["rows"])
            return recipe
    recipe.descriptors(model, visits)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp")
    torch.save({"key": key, "rows": recipe.cached()}, tmp)
    os.replace(tmp, cache)
    return recipe


def pct(x: float) -> str:
    return "-" if x != x else f"{100 * x:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(ROOT / "configs/world_quality.toml"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--recipe", choices=["auto", "head", "full"], default="auto")
    ap.add_argument("--p", type=int, default=8, help="tracklets per batch (the world's cameras allow ~13 at T=30 s)")
    ap.add_argument("--ablation", action="store_true",
                    help="also: S1 + 2 rounds with one recipe setting changed at a time (what each does)")
    ap.add_argument("--table4", action="store_true")
    ap.add_argument("--table4-rounds", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--cache", default=str(ROOT / ".cache/bench/rounds-descriptors.pt"))
    args = ap.parse_args()
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    t0 = time.perf_counter()
    world, visits = load_visits(args.spec)
    cfg = TrainerConfig(p=args.p, k=4, rounds=args.rounds, recipe=args.recipe, seed=0)
    assoc = Association()
    data = ExperimentData(train=visits, query=visits, gallery=visits, network=world.network,
                          name=f"synthetic:{Path(args.spec).stem}")
    model = build_reid_model(cfg.backbone, cfg.emb_dim, seed=cfg.seed)
    recipe = cached_recipe(cfg, model, visits, Path(args.cache))
    recipe.progress = False           # the descriptor pass had its bar; the rounds take seconds each
    print(f"# bench_rounds — {datetime.date.today()} — {platform.machine()} cpus={os.cpu_count()} torch "
          f"{torch.__version__} — command: {shlex.join(['.venv/bin/python', 'benchmarks/bench_rounds.py'] + sys.argv[1:])}")
    print(f"world {Path(args.spec).name}: {len(visits)} visits, {sum(t.num_images for t in visits)} crops; "
          f"recipe {recipe.name}, P={cfg.p} K={cfg.k}; {time.perf_counter() - t0:.0f} s to load and describe")

    def score(m) -> tuple[float, float, float, int]:
        f = recipe.features(m, visits)
        r = evaluate_features(f, f, visits, visits)
        return r.rank(1), r.rank(5), r.mAP, r.num_valid_queries

    v0 = score(model)
    with tempfile.TemporaryDirectory(prefix="bench-rounds-") as out:
        t1 = time.perf_counter()
        rows = run_rounds(model, data, cfg, assoc, torch.device("cpu"), Path(out) / "schedule", progress=False,
                          recipe=recipe)
        schedule_s = time.perf_counter() - t1
        sup = build_reid_model(cfg.backbone, cfg.emb_dim, seed=cfg.seed)
        steps = sum(r.steps for r in rows)
        epochs = max(1, round(steps / max(1, len(GroundTruthPK(visits, cfg.p, cfg.k, 0)))))
        recipe.train(sup, GroundTruthPK(visits, cfg.p, cfg.k, seed=cfg.seed), visits, epochs, desc="supervised")
        bound = score(sup)
        print(f"\n{v0[3]} valid queries; schedule {schedule_s:.0f} s ({steps} steps); supervised bound "
              f"{epochs} epochs of ground-truth P x K batches ({epochs * len(GroundTruthPK(visits, cfg.p, cfg.k, 0))} steps)")
        print("\n| model | rank-1 % | rank-5 % | mAP % | pairs | pair precision % | pair recall % |")
        print("|---|---|---|---|---|---|---|")
        print(f"| v0 (zero-label, as served) | {pct(v0[0])} | {pct(v0[1])} | {pct(v0[2])} | - | - | - |")
        for r in rows:
            name = "S1 (round 0, TSCCC)" if r.round == 0 else f"round {r.round} (NN-CCTA + TCCPC)"
            print(f"| {name} | {pct(r.rank1)} | {pct(r.rank5)} | {pct(r.mAP)} | {r.num_pairs or '-'} | "
                  f"{pct(r.pair_precision)} | {pct(r.pair_recall)} |")
        print(f"| supervised bound (same recipe and steps) | {pct(bound[0])} | {pct(bound[1])} | {pct(bound[2])} "
              f"| - | - | - |")
        gap = bound[0] - v0[0]
        closed = (rows[-1].rank1 - v0[0]) / gap if gap > 0 else float("nan")
        print(f"\nv0 -> supervised rank-1 gap {100 * gap:.1f} points; the unsupervised rounds close "
              f"{100 * closed:.0f} % of it (S1 alone {100 * (rows[0].rank1 - v0[0]) / gap:.0f} %); "
              f"last round - S1 = {100 * (rows[-1].rank1 - rows[0].rank1):+.1f} points")
        if args.ablation:
            variants = [("recipe as configured", {}), ("no L2-SP (l2sp = 0)", {"l2sp": 0.0}),
                        ("no warm-up", {"warmup_steps": 0}), ("5 epochs a round (not 20)", {"head_epochs": 5}),
                        ("learning rate / 3", {"head_lr_scale": 1.0}), ("L2-SP x 10", {"l2sp": 1e-2})]
            print("\nRecipe ablation: S1 + 2 cross-camera rounds, one setting changed at a time\n")
            print("| variant | S1 rank-1 % | round 2 rank-1 % | round 2 mAP % | round 2 pair precision % |")
            print("|---|---|---|---|---|")
            for name, change in variants:
                c = cfg.model_copy(update={"rounds": 2, **change})
                m = build_reid_model(c.backbone, c.emb_dim, seed=c.seed)
                res = run_rounds(m, data, c, assoc, torch.device("cpu"), Path(out) / f"ablation-{len(name)}",
                                 progress=False, recipe=recipe)
                print(f"| {name} | {pct(res[0].rank1)} | {pct(res[-1].rank1)} | {pct(res[-1].mAP)} | "
                      f"{pct(res[-1].pair_precision)} |", flush=True)
        if args.table4:
            per_seed = []
            for seed in args.seeds:
                c = cfg.model_copy(update={"seed": seed, "rounds": args.table4_rounds})
                per_seed.append(run_table4(data, c, assoc, torch.device("cpu"), Path(out) / f"table4-{seed}",
                                           recipe=recipe))
            print(f"\nTable IV on this world, seeds {args.seeds}, {args.table4_rounds} cross-camera rounds per "
                  f"variant (mean, per seed in brackets):\n")
            print(format_table(per_seed))


if __name__ == "__main__":
    main()
