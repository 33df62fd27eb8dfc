"""Sweep the trusted linker's settings on bench_quality's cached tracklets (issue 10).

Loads the cached ingest of the fixed quality world once, then replays the associator core
(``bench_quality.replay``'s arrival order and decision ticks) for each setting and prints the
report lines bench_quality prints, plus an error decomposition against ground truth: wrong
within-camera re-links, wrong cross links, identities holding two people. Each run's shown
links (with their explanation and ground truth) are written as JSON under ``--dump`` for
offline analysis, e.g. a precision/recall curve over a confidence threshold.

    .venv/bin/python benchmarks/sweep_trust.py 'relink_quantile=0.1' 'min_confidence=0.7;link_quantile=0.04'

Each argument is one run: ``;``-separated ``key=value`` settings of ``[associator.association.trust]``
(``learned_prior.min_count=5`` reaches a sub-section); an empty argument is the defaults.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import bench_quality as bq  # noqa: E402
from tastr_stream.config import config_from_dict  # noqa: E402
from tastr_stream.datasets.synthetic import SyntheticWorld  # noqa: E402
from tastr_stream.eval.gt_match import label_tracklets  # noqa: E402
from tastr_stream.eval.report import network_report  # noqa: E402
from tastr_stream.pipeline.associator import AssociatorCore  # noqa: E402
from tastr_stream.store import Store  # noqa: E402
from tastr_stream.train.sources import render_world_spec  # noqa: E402


def parse_setting(arg: str) -> dict:
    trust: dict = {}
    for item in filter(None, (s.strip() for s in arg.split(";"))):
        key, value = item.split("=", 1)
        *path, leaf = key.strip().split(".")
        node = trust
        for p in path:
            node = node.setdefault(p, {})
        node[leaf] = json.loads(value)
    return trust


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


def replay(world, tracklets, network_file: str, trust: dict, out_dir: Path) -> AssociatorCore:
    """``bench_quality.replay`` with trust settings on top of the scenario's."""
    network = tomllib.loads((world.root / network_file).read_text())["network"]
    cfg = config_from_dict({"network": network, "associator": {
        "store_dir": str(out_dir), "window": {"window_s": 7200.0, "allowed_lateness_s": 600.0},
        "association": {"trust": trust}}})
    return bq.play(AssociatorCore(cfg, Store.open(out_dir)), tracklets)


def decompose(core: AssociatorCore, pid: dict[str, int]) -> dict:
    links = core.linker.links()
    wrong = Counter((l.kind, pid.get(l.tracklet_a, -1) < 0 or pid.get(l.tracklet_a) != pid.get(l.tracklet_b))
                    for l in links)
    members: dict[int, list[str]] = {}
    for tid, ident in core.linker.identities().items():
        members.setdefault(ident, []).append(tid)
    multi = [m for m in members.values() if len(m) > 1]
    mixed = sum(len({pid.get(t, -1) for t in m}) > 1 for m in multi)
    return {"relinks": wrong[("relink", False)] + wrong[("relink", True)], "relinks_wrong": wrong[("relink", True)],
            "cross": wrong[("cross", False)] + wrong[("cross", True)], "cross_wrong": wrong[("cross", True)],
            "identities_linked": len(multi), "identities_mixed": mixed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("settings", nargs="*", default=[""])
    ap.add_argument("--scenario", default="learned", choices=sorted(bq.SCENARIOS))
    ap.add_argument("--tracklets", choices=["pipeline", "oracle"], default="pipeline")
    ap.add_argument("--dump", default="/tmp/sweep-trust")
    ap.add_argument("--no-lookup", action="store_true", help="skip lookup rank-1 (saves a few seconds a run)")
    args = ap.parse_args()
    world = SyntheticWorld.open(render_world_spec(str(ROOT / "configs/world_quality.toml")))
    tracklets = bq.cached_tracklets(world, args.tracklets)
    pid = {m.tracklet_id: m.pid for m in label_tracklets(world, tracklets)}
    network_file, learned = bq.SCENARIOS[args.scenario]
    dump = Path(args.dump)
    dump.mkdir(parents=True, exist_ok=True)
    for n, arg in enumerate(args.settings):
        trust = _merge({"learned_prior": {"enabled": learned}}, parse_setting(arg))
        out = Path(tempfile.mkdtemp(prefix="sweep-trust-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
        try:
            t0 = time.perf_counter()
            core = replay(world, tracklets, network_file, trust, out)
            look = {} if args.no_lookup else bq.lookup_scores(core, pid, world)
            dec = decompose(core, pid)
            rows = [{**l.explain(), "pid_a": pid.get(l.tracklet_a, -1), "pid_b": pid.get(l.tracklet_b, -1)}
                    for l in core.linker.links()]
            core.store.close()
            rep = network_report(out, world)
            print(f"\n## {arg or '(defaults)'}  [{args.scenario}, {time.perf_counter() - t0:.0f} s]", flush=True)
            for line in rep.lines()[2:5]:
                print("  " + line)
            for kind, (r1, m, q) in look.items():
                print(f"  lookup {kind:<10}       rank-1 {r1:.3f}  mAP {m:.3f}  ({q} queries)")
            print("  errors: " + ", ".join(f"{k} {v}" for k, v in dec.items()))
            print("  transfer: " + ", ".join(f"{a[3:]}-{b[3:]} {p.mean_s:.0f}+-{p.std_s:.0f}/{p.samples}"
                                            for (a, b), p in core.transfer.pairs().items()), flush=True)
            name = f"{n:02d}-" + "".join(c if c.isalnum() or c in "._=" else "_" for c in arg)[:80]
            (dump / f"{name}.json").write_text(json.dumps({
                "setting": arg, "scenario": args.scenario, "pair_precision": rep.pair_precision,
                "pair_recall": rep.pair_recall, "link_precision": rep.link_precision, "link_recall": rep.link_recall,
                "idf1": rep.idf1, "retracted_share": rep.retracted_share, "lookup": look, "errors": dec,
                "links": rows, "identities": core.linker.identities()}, indent=1))
        finally:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
