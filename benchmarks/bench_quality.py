"""Cross-camera linking quality on a fixed rendered world, against ground truth (issue 10).

The yardstick every linking or training change is judged by. It renders (once, cached) the world
of ``configs/world_quality.toml`` (6 cameras, 80 people, 10 minutes, walking speeds and stops
spread like a real crowd, half of the configured path lengths off by up to 30 %), runs the real
edge pipeline over every camera once (cached: ``eval.world_ingest``), then replays the tracklets
through the associator core in arrival order (event time, one decision tick per arrival) and
scores what users would have been shown:

- identity-pair and direct-link precision/recall, the share of shown links retracted, the delay
  from a person's exit to a final link, multi-camera IDF1 (``eval.report``);
- lookup rank-1/mAP of the person's previous or next sighting in another camera among all other
  cameras' visits, for every tracklet: by appearance alone and by D / R with the prior (configured
  or learned, per scenario).

Scenarios: ``true`` (true path lengths, nothing learned), ``off`` (configured lengths, off by up to
30 %, nothing learned), ``learned`` (configured lengths, transfer times learned live): the share of
the true-vs-off gap that learning closes is printed. ``--tracklets oracle`` feeds ground-truth
boxes through the same tracker instead of YOLO11n-pose, to separate detection and tracking errors
from linking.

``--train-rounds N`` adds the site's own model (issue 11 on this yardstick): the trainer's schedule
(TSCCC round 0, then N NN-CCTA + TCCPC rounds, the head recipe, configured path lengths) trains
on these very tracklets and their stored crops, without labels, as the live trainer does on its
window; after each round the day is replayed (``learned`` scenario) with the tracklets embedded by
that round's model. It is the day re-linked with the model learned from it, once per
``--train-seeds`` seed (the sampler's and the projection's draws), so the spread shows.
The crops' descriptors are computed once (about 5 minutes) and cached.

    .venv/bin/python benchmarks/bench_quality.py [--tracklets pipeline|oracle] [--scenarios true,off,learned]
        [--train-rounds 3 --train-seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import datetime
import math
import platform
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.demo import DEMO_POSE_MODEL, demo_config, pick_detector  # noqa: E402
from tastr_stream.config import config_from_dict  # noqa: E402
from tastr_stream.config.associator import Association  # noqa: E402
from tastr_stream.config.ingest import IngestConfig  # noqa: E402
from tastr_stream.config.model import ModelConfig  # noqa: E402
from tastr_stream.config.trainer import TrainerConfig  # noqa: E402
from tastr_stream.datasets.synthetic import SyntheticWorld  # noqa: E402
from tastr_stream.eval.gt_match import label_tracklets  # noqa: E402
from tastr_stream.eval.report import network_report  # noqa: E402
from tastr_stream.eval.world_ingest import ingest_world  # noqa: E402
from tastr_stream.models.checkpoint import initial_model  # noqa: E402
from tastr_stream.pipeline.associator import AssociatorCore  # noqa: E402
from tastr_stream.store import Store  # noqa: E402
from tastr_stream.train.evaluation import ExperimentData  # noqa: E402
from tastr_stream.train.head import served_features  # noqa: E402
from tastr_stream.train.live import tracklets_from_store  # noqa: E402
from tastr_stream.train.recipe import HeadOnly, make_recipe  # noqa: E402
from tastr_stream.train.rounds import run_rounds  # noqa: E402
from tastr_stream.train.sources import render_world_spec  # noqa: E402

SCENARIOS = {"true": ("network_true.toml", False), "off": ("network.toml", False), "learned": ("network.toml", True),
             "true-learned": ("network_true.toml", True)}


def cached_tracklets(world, mode: str) -> list:
    """Every tracklet the edge pipeline (or oracle detections through it) publishes on the world."""
    # The float pose model, as every figure in RESULTS.md and the cached ingest were made (the demo's
    # "auto" now takes the int8 copy when setup made it).
    detector = pick_detector("yolo-pose" if (ROOT / DEMO_POSE_MODEL).exists() else "auto", ROOT)
    sec = demo_config(world.root, Path(tempfile.gettempdir()), detector, world.fps, {})["ingest"]
    if mode == "oracle":
        sec["detect"] = {"backend": "oracle", "oracle_box_noise": 0.0}
    out = ingest_world(world, IngestConfig.model_validate(sec), ROOT / ".cache/bench" / f"quality-{mode}", root=ROOT)
    with Store.open(out / "store") as store:        # read-write: migrates a cache made by older code
        tracklets = store.tracklets_between(-1e18, 1e18)
        emb = store.embeddings(0).as_dict()
    return [t.__class__(**{**t.__dict__, "embedding": emb[t.tracklet_id], "model_version": 0})
            for t in tracklets if t.tracklet_id in emb]


def self_trained(world, mode: str, rounds: int, seed: int, descriptor_cache: dict):
    """[(round, {tracklet id: embedding})] after each round of the trainer's schedule on the cached ingest's own
    tracklets and crops (no labels): round 0 is TSCCC (TASTR-S1), rounds 1..N NN-CCTA + TCCPC over
    the configured network. ``descriptor_cache`` (tracklet id -> descriptor rows) is filled on the
    first call and shared by later seeds: every model here has v0's fixed trunk."""
    m = ModelConfig()
    model, _ = initial_model(m.backbone, m.emb_dim, m.weights_path)
    with Store.open(ROOT / ".cache/bench" / f"quality-{mode}" / "store", read_only=True) as store:
        train = tracklets_from_store(store, max_images=10_000)        # every stored crop, as served
    torch.manual_seed(seed)
    # P = 8: about 13 tracklets are 30 s apart in these cameras, so P = 16 cannot fill TSCCC batches.
    cfg = TrainerConfig(p=8, k=4, rounds=rounds, recipe="head", seed=seed)
    recipe = make_recipe(cfg, torch.device("cpu"), model, progress=not descriptor_cache)
    if not isinstance(recipe, HeadOnly):
        raise SystemExit(f"--train-rounds needs the head recipe: {m.backbone} has no fixed trunk")
    recipe.add_cached(descriptor_cache)
    descriptors = recipe.descriptors(model, train)
    descriptor_cache.update(recipe.cached())
    recipe.progress = False
    network = config_from_dict({"network": tomllib.loads((world.root / "network.toml").read_text())["network"]}).network
    data = ExperimentData(train=train, network=network, name=f"bench_quality {mode}")
    results: list[tuple[int, dict]] = []

    def keep(row) -> None:
        feats = served_features(model, descriptors)
        results.append((row.round, {t.tracklet_id: f.astype(np.float32) for t, f in zip(train, feats)}))

    with tempfile.TemporaryDirectory(prefix="bench-quality-train-") as out:
        run_rounds(model, data, cfg, Association(), torch.device("cpu"), out, progress=False, recipe=recipe,
                   on_round=keep)
    return results


def replay(world, tracklets, network_file: str, learned: bool, out_dir: Path) -> AssociatorCore:
    """The associator core fed in arrival order; decides after every arrival, then lets time run out."""
    network = tomllib.loads((world.root / network_file).read_text())["network"]
    cfg = config_from_dict({"network": network, "associator": {
        "store_dir": str(out_dir), "window": {"window_s": 7200.0, "allowed_lateness_s": 600.0},
        "association": {"trust": {"learned_prior": {"enabled": learned}}}}})
    store = Store.open(out_dir)
    return play(AssociatorCore(cfg, store), tracklets)


def play(core: AssociatorCore, tracklets, step_s: float = 2.0) -> AssociatorCore:
    """Feed ``tracklets`` in arrival order, deciding after each; then let event time run on in
    ``step_s`` steps, as a live associator's clock does after the last arrival, until every link
    still waiting has been decided. (One jump far past the end would decide nothing: the linker
    only looks at tracklets within its decision region of the clock.)"""
    for t in sorted(tracklets, key=lambda t: (t.t_end_s, t.tracklet_id)):
        core.receive(t)
        core.finalize(now_event_s=t.t_end_s)
    last = core.newest_event_s
    horizon = 2.0 * (core.transfer.horizon_s() + core.config.associator.association.trust.relink_max_gap_s)
    for k in range(1, int(np.ceil(horizon / step_s)) + 1):
        core.finalize(now_event_s=last + k * step_s)
    return core


def adjacent_visits(world) -> dict[tuple[int, str], list[tuple[float, float]]]:
    """(pid, camera) -> the person's visits to other cameras just before or after one there."""
    by_pid: dict[int, list] = {}
    for v in world.visits:
        by_pid.setdefault(v.pid, []).append(v)
    out: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for pid, visits in by_pid.items():
        visits.sort(key=lambda v: v.t_enter_s)
        for a, b in zip(visits, visits[1:]):
            if a.camera_id != b.camera_id:
                out.setdefault((pid, a.camera_id), []).append((b.t_enter_s, b.t_exit_s, a.t_enter_s, a.t_exit_s))
                out.setdefault((pid, b.camera_id), []).append((a.t_enter_s, a.t_exit_s, b.t_enter_s, b.t_exit_s))
    return out


def lookup_scores(core: AssociatorCore, pid: dict[str, int], world) -> dict[str, tuple[float, float, int]]:
    """rank-1 and mAP, per tracklet, of finding the person's previous or next sighting in another
    camera (what a transfer-time prior is about) among every other camera's visits: by
    appearance alone vs by D / R with the prior as the run left it."""
    adjacent = adjacent_visits(world)
    hits = {"appearance": [], "prior": []}
    aps = {"appearance": [], "prior": []}
    for tid in sorted(core.linker.metas):
        if pid.get(tid, -1) < 0:
            continue
        meta = core.linker.metas[tid]
        near = [(t0, t1) for t0, t1, s0, s1 in adjacent.get((pid[tid], meta.camera_id), ())
                if s0 - 1.0 <= meta.t_end_s and meta.t_start_s <= s1 + 1.0]     # neighbours of this visit
        rows = core.linker.candidates(tid, k=10_000)
        truth = [any(pid.get(m, -1) == pid[tid] for m in r["tracklet_ids"])
                 and any(r["t_enter_s"] <= t1 + 1.0 and t0 - 1.0 <= r["t_exit_s"] for t0, t1 in near) for r in rows]
        if not any(truth):
            continue
        for kind, order in (("prior", range(len(rows))),
                            ("appearance", sorted(range(len(rows)), key=lambda i: rows[i]["appearance_rank"]))):
            rel = np.array([truth[i] for i in order], dtype=np.float64)
            hits[kind].append(rel[0])
            prec = np.cumsum(rel) / np.arange(1, rel.size + 1)
            aps[kind].append(float((prec * rel).sum() / rel.sum()))
    return {k: (float(np.mean(hits[k])), float(np.mean(aps[k])), len(hits[k])) for k in hits}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(ROOT / "configs/world_quality.toml"))
    ap.add_argument("--tracklets", choices=["pipeline", "oracle"], default="pipeline")
    ap.add_argument("--scenarios", default="true,off,learned")
    ap.add_argument("--train-rounds", type=int, default=0, help="also replay with the site's own model after "
                    "TSCCC and each of this many TCCPC rounds (0: v0 only)")
    ap.add_argument("--train-seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args()
    world = SyntheticWorld.open(render_world_spec(args.spec))
    t0 = time.perf_counter()
    tracklets = cached_tracklets(world, args.tracklets)
    gt = {m.tracklet_id: m.pid for m in label_tracklets(world, tracklets)}
    print(f"# bench_quality — {datetime.date.today()} — {platform.machine()} {platform.processor() or ''} — command: "
          f".venv/bin/python benchmarks/bench_quality.py --tracklets {args.tracklets} --scenarios {args.scenarios}"
          + (f" --train-rounds {args.train_rounds} --train-seeds {' '.join(map(str, args.train_seeds))}"
             if args.train_rounds else ""))
    print(f"world {Path(args.spec).name}: {len(world.camera_ids)} cameras, {world.duration_s / 60:.0f} min, "
          f"{len(tracklets)} tracklets ({args.tracklets}; {time.perf_counter() - t0:.0f} s to load or ingest)")
    results = {}
    for name in args.scenarios.split(","):
        network_file, learned = SCENARIOS[name]
        out = Path(tempfile.mkdtemp(prefix=f"bench-quality-{name}-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
        try:
            t1 = time.perf_counter()
            core = replay(world, tracklets, network_file, learned, out)
            look = lookup_scores(core, gt, world)
            core.store.close()
            rep = network_report(out, world)
            results[name] = (rep, look)
            print(f"\n## {name}: {network_file}, transfer times {'learned live' if learned else 'as configured'} "
                  f"({time.perf_counter() - t1:.0f} s)")
            for line in rep.lines():
                print("  " + line)
            for kind, (r1, m, n) in look.items():
                print(f"  lookup {kind:<10}       rank-1 {r1:.3f}  mAP {m:.3f}  ({n} queries)")
            if learned:
                for (a, b), p in core.transfer.pairs().items():
                    print(f"    {a}-{b}: configured {p.configured_mean_s:6.1f} s -> {p.source:<10} "
                          f"{p.mean_s:6.1f} +- {p.std_s:4.1f} s ({p.samples} links)")
        finally:
            shutil.rmtree(out, ignore_errors=True)
    if {"true", "off", "learned"} <= results.keys():
        print("\n## learned prior vs path lengths off by up to 30 %")
        for label, get in (("lookup rank-1 with prior", lambda r: r[1]["prior"][0]),
                           ("identity-pair F1", lambda r: _f1(r[0].pair_precision, r[0].pair_recall)),
                           ("multi-camera IDF1", lambda r: r[0].idf1)):
            t, o, l = (get(results[k]) for k in ("true", "off", "learned"))
            share = (l - o) / (t - o) if abs(t - o) > 1e-9 else math.nan
            line = f"  {label:<26} true {t:.3f}  off {o:.3f}  learned {l:.3f}  gap closed {share:.0%}"
            if "true-learned" in results:        # the same learning started from the true lengths
                line += f"  (true lengths, learned: {get(results['true-learned']):.3f})"
            print(line)
    if args.train_rounds:
        trained(world, tracklets, gt, args)


def trained(world, tracklets, gt: dict[str, int], args) -> None:
    """The ``learned`` scenario replayed with the site's own model after each training round."""
    print(f"\n## trained: the day re-linked with the model trained on it without labels (TSCCC, then "
          f"{args.train_rounds} NN-CCTA + TCCPC rounds; head recipe), learned transfer times")
    print("| seed | model | identity pairs P / R | direct links P / R (shown) | retracted | IDF1 | "
          "lookup rank-1 appearance / prior |")
    print("|---|---|---|---|---|---|---|")
    cache_file = ROOT / ".cache/bench" / f"quality-{args.tracklets}" / "descriptors.pt"   # goes with the ingest
    key = {"tracklets": sorted((t.tracklet_id, len(t.crop_times_s)) for t in tracklets), "model": ModelConfig().backbone}
    cache: dict = {}
    if cache_file.is_file():
        saved = torch.load(cache_file, weights_only=False)
        cache = saved["rows"] if saved.get("key") == key else {}
    network_file, learned = SCENARIOS["learned"]
    for seed in args.train_seeds:
        t0 = time.perf_counter()
        fresh = not cache
        for rnd, emb in self_trained(world, args.tracklets, args.train_rounds, seed, cache):
            if fresh:
                torch.save({"key": key, "rows": cache}, cache_file.with_suffix(".tmp"))
                cache_file.with_suffix(".tmp").replace(cache_file)
                fresh = False
            # One embedding space for the whole replay, under the version number the replay's network knows (0).
            retrained = [t.__class__(**{**t.__dict__, "embedding": emb[t.tracklet_id]})
                         for t in tracklets if t.tracklet_id in emb]
            out = Path(tempfile.mkdtemp(prefix="bench-quality-trained-",
                                        dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
            try:
                core = replay(world, retrained, network_file, learned, out)
                look = lookup_scores(core, gt, world)
                core.store.close()
                rep = network_report(out, world)
            finally:
                shutil.rmtree(out, ignore_errors=True)
            name = "S1 (TSCCC)" if rnd == 0 else f"round {rnd}"
            print(f"| {seed} | {name} | {rep.pair_precision:.3f} / {rep.pair_recall:.3f} | {rep.link_precision:.3f} / "
                  f"{rep.link_recall:.3f} ({rep.links_shown}) | {rep.retracted_share:.1%} | {rep.idf1:.3f} | "
                  f"{look['appearance'][0]:.3f} / {look['prior'][0]:.3f} |", flush=True)
        print(f"(seed {seed}: {time.perf_counter() - t0:.0f} s)", flush=True)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


if __name__ == "__main__":
    main()
