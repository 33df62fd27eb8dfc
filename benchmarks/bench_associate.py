"""Decision latency of the incremental associator (not a test).

Streams a synthetic 6-camera world (Campus-4K path lengths, emb_dim 512 by default) in event
order, prefills the window to N tracklets, then times ``add`` for the next arrivals (steady
state: every arrival also evicts). Reports p50/p99 per arrival, the same with the numpy
brute-force index, batch NN-CCTA rerun per arrival on a small window (and its honest O(N^2)
extrapolation), and single top-1 queries faiss-pruned vs brute force.

    .venv/bin/python benchmarks/bench_associate.py --sizes 10000 100000 --measure 500
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from tastr_stream.associate import BruteForceIndex, CameraIndex, IncrementalAssociator, TrackletMeta, TransferPrior, batch_associate
from tastr_stream.config import Association, StrPrior, Window

CAMPUS4K_PATHS_M = [[0, 105, 190, 200, 190, 245], [105, 0, 50, 65, 50, 105], [190, 50, 0, 60, 55, 110],
                    [200, 65, 60, 0, 75, 130], [190, 50, 55, 75, 0, 55], [245, 105, 110, 130, 55, 0]]
CAMS = [f"cam{i + 1}" for i in range(6)]


def campus_prior(cfg: StrPrior) -> TransferPrior:
    return TransferPrior({(CAMS[i], CAMS[j]): CAMPUS4K_PATHS_M[i][j] / 1.25
                          for i in range(6) for j in range(i + 1, 6)}, cfg)


def stream(n: int, window_s: float, emb_dim: int, seed: int) -> list[TrackletMeta]:
    """About ``n`` tracklets per ``window_s`` of event time, people walking 1-4 camera routes."""
    rng = np.random.default_rng(seed)
    out: list[TrackletMeta] = []
    pid = 0
    span = window_s
    while len(out) < n:
        centroid = rng.standard_normal(emb_dim).astype(np.float32)
        centroid /= np.linalg.norm(centroid)
        t = float(rng.uniform(0, span))
        route = rng.permutation(6)[: rng.integers(1, 5)]
        for k, c in enumerate(route):
            if k:
                t += CAMPUS4K_PATHS_M[route[k - 1]][c] / 1.25 * float(rng.uniform(0.8, 1.2))
            dur = float(rng.uniform(3, 20))
            feat = centroid + 0.5 * rng.standard_normal(emb_dim).astype(np.float32) / np.sqrt(emb_dim)
            out.append(TrackletMeta(f"{CAMS[c]}:{pid}:{k}", CAMS[c], t, t + dur, feat))
            t += dur
        pid += 1
    return sorted(out, key=lambda m: m.t_end_s)


def percentiles_ms(xs: list[float]) -> dict:
    a = np.asarray(xs) * 1e3
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p99_ms": round(float(np.percentile(a, 99)), 3),
            "max_ms": round(float(a.max()), 3), "n": len(xs)}


def run_incremental(n: int, measure: int, emb_dim: int, index_factory=None, seed: int = 0) -> dict:
    # n tracklets per 900 s of event time; the window holds exactly n (oldest evicted first),
    # so every measured arrival also pays for one eviction.
    metas = stream(n + measure, 900.0 * (n + measure) / n, emb_dim, seed)
    cfg = Association()
    inc = IncrementalAssociator(campus_prior(cfg.str_prior), cfg,
                                Window(window_s=7 * 86_400, allowed_lateness_s=600, max_tracklets=max(n, 10)),
                                **({"index_factory": index_factory} if index_factory else {}))
    t0 = time.perf_counter()
    for m in metas[:n]:
        inc.add(m)
    prefill_s = time.perf_counter() - t0
    lat = []
    for m in metas[n:]:
        t = time.perf_counter()
        inc.add(m)
        lat.append(time.perf_counter() - t)
    return {"window": len(inc.tracklets()), "links": len(inc.links()), "prefill_s": round(prefill_s, 1),
            **percentiles_ms(lat)}


def run_batch(n: int, repeats: int, emb_dim: int) -> dict:
    metas = stream(n, 900.0, emb_dim, 1)
    cfg = Association()
    prior = campus_prior(cfg.str_prior)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        batch_associate(metas, prior, cfg)
        times.append(time.perf_counter() - t)
    return {"n": n, "batch_s": round(float(np.median(times)), 3)}


def run_queries(per_camera: int, emb_dim: int, queries: int = 200) -> dict:
    rng = np.random.default_rng(2)
    prior = campus_prior(StrPrior())
    fast, ref = CameraIndex(emb_dim), BruteForceIndex(emb_dim)
    feats = rng.standard_normal((per_camera, emb_dim)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    ts = rng.uniform(0, 900, per_camera)
    for i in range(per_camera):
        fast.add(f"b:{i}", ts[i], ts[i] + 10, feats[i])
        ref.add(f"b:{i}", ts[i], ts[i] + 10, feats[i])
    out = {}
    for name, idx in (("faiss", fast), ("numpy", ref)):
        lat = []
        for q in range(queries):
            feat = feats[q] + 0.3 * rng.standard_normal(emb_dim).astype(np.float32) / np.sqrt(emb_dim)
            t0 = float(ts[q] + 90.0)
            tts, tte, _ = idx.times()
            r = prior.r_between(t0, t0 + 10, tts, tte, "cam2", "cam1")
            t = time.perf_counter()
            idx.top1_joint(feat, r)
            lat.append(time.perf_counter() - t)
        out[name] = percentiles_ms(lat)
    return {"per_camera": per_camera, **out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--measure", type=int, default=500)
    ap.add_argument("--emb-dim", type=int, default=512)
    ap.add_argument("--batch-n", type=int, default=2000)
    ap.add_argument("--brute-n", type=int, default=10_000)
    args = ap.parse_args()
    report = {"emb_dim": args.emb_dim}
    report["queries"] = run_queries(100_000 // 6, args.emb_dim)
    print(json.dumps({"queries": report["queries"]}), flush=True)
    small = run_incremental(args.batch_n, args.measure, args.emb_dim)
    batch = run_batch(args.batch_n, 3, args.emb_dim)
    report["batch_vs_incremental"] = {
        **batch, "incremental_p50_ms": small["p50_ms"],
        "speedup_at_n": round(batch["batch_s"] * 1e3 / small["p50_ms"], 1),
        "batch_s_extrapolated_100k_O(N^2)": round(batch["batch_s"] * (100_000 / args.batch_n) ** 2, 1)}
    print(json.dumps({"batch_vs_incremental": report["batch_vs_incremental"]}), flush=True)
    report["brute_force_index"] = run_incremental(args.brute_n, args.measure, args.emb_dim, BruteForceIndex)
    print(json.dumps({"brute_force_index": report["brute_force_index"]}), flush=True)
    for n in args.sizes:
        report[f"incremental_{n}"] = run_incremental(n, args.measure, args.emb_dim)
        print(json.dumps({f"incremental_{n}": report[f"incremental_{n}"]}), flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
