"""``tastr-stream lookup``: ask a running associator where else a person was seen.

  tastr-stream lookup --config FILE tracklet cam3:a1b2:17
  tastr-stream lookup --config FILE camera cam3 17
  tastr-stream lookup --config FILE identity 42
  tastr-stream lookup --config FILE candidates cam3:a1b2:17 [--k 10] [--json]
  tastr-stream lookup --config FILE image person.jpg [--k 5]
  tastr-stream lookup --config FILE recent | stats
  tastr-stream lookup --config FILE forget 42

``forget`` removes one identity everywhere (store rows, crops, thumbnails, summaries, embeddings,
links, and the running associator's window) and prints what was removed per kind.

``candidates`` prints the other cameras' visits ranked for one tracklet, with the figures an
operator needs to confirm or reject a match (D, dt against the pair's transfer time, R, D/R, the
confidence and whether it is already the same identity); ``--json`` prints the reply as it came.

With ``--store DIR`` no daemon is asked: the store of a finished (or running) run is opened
read-only and the same lookups are answered in this process, candidates from the window rebuilt
as a restarted associator would (``pipeline.inspect.StoreInspector``). Image search needs the
associator's model and is not available there. ``forget`` with ``--store`` opens the store for
writing, which only works while no associator holds it (a running one would keep the person in
its window): stop it first, or ask it (without ``--store``).

An associator with a lookup token (``security.token_file``) answers only requests that carry it:
the token is read from the config's ``security`` section (its file, else its environment
variable, ``TASTR_STREAM_TOKEN`` by default), or from ``--token-file``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..config import SecurityConfig, load_config, load_token
from ..errors import TastrError

QUERIES = ("tracklet", "camera", "identity", "candidates", "image", "recent", "stats", "forget")
DEFAULT_K = {"image": 5, "candidates": 10}


def register(sub) -> None:
    p = sub.add_parser("lookup", help="query a running associator, or a run's store read-only "
                                      "(tracklet, camera track, identity, candidates, image; forget an identity)")
    p.add_argument("--config", help="TOML config (for endpoints.lookup; with --store, the run's network)")
    p.add_argument("--endpoint", help="lookup endpoint, overrides the config (e.g. tcp://127.0.0.1:5702)")
    p.add_argument("--store", help="answer from this store folder, opened read-only (no daemon needed)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply")
    p.add_argument("--token-file", help="file holding the lookup token (default: the config's security.token_file, "
                                        "else the TASTR_STREAM_TOKEN environment variable)")
    p.add_argument("--k", type=int, help="number of results: image search (default 5), candidates (default 10)")
    p.add_argument("--json", action="store_true", help="candidates: print the JSON reply instead of a table")
    p.add_argument("query", choices=QUERIES)
    p.add_argument("args", nargs="*", help="tracklet ID | CAMERA TRACK | IDENTITY | IMAGE_FILE")
    p.set_defaults(func=run)


def build_request(query: str, args: list[str], k: int | None = None) -> dict:
    def need(n: int, what: str) -> None:
        if len(args) != n:
            raise TastrError(f"lookup {query} needs {what}, got {args}")

    k = DEFAULT_K.get(query) if k is None else k
    if query == "tracklet":
        need(1, "one tracklet id")
        return {"op": "tracklet", "tracklet_id": args[0]}
    if query == "candidates":
        need(1, "one tracklet id")
        return {"op": "candidates", "tracklet_id": args[0], "k": k}
    if query == "camera":
        need(2, "a camera id and a local track id")
        if not args[1].isdigit():
            raise TastrError(f"local track id must be an integer, got {args[1]!r}")
        return {"op": "camera_track", "camera_id": args[0], "local_track_id": int(args[1])}
    if query in ("identity", "forget"):
        need(1, "one identity id")
        if not args[0].isdigit():
            raise TastrError(f"identity id must be an integer, got {args[0]!r}")
        return {"op": query, "identity_id": int(args[0])}
    if query == "image":
        need(1, "one image file")
        try:
            data = Path(args[0]).read_bytes()
        except OSError as e:
            raise TastrError(f"cannot read image {args[0]}: {e.strerror}") from None
        return {"op": "image", "jpeg": data, "k": k}
    need(0, "no arguments")
    return {"op": query}


def ask_daemon(endpoint: str, request: dict, timeout_s: float, token: str | None = None) -> dict:
    from ..wire.rpc import RpcClient

    client = RpcClient(endpoint, token=token)
    try:
        return client.call(request, timeout_s=timeout_s)
    finally:
        client.close()


def ask_store(config_path: str, store_dir: str, request: dict) -> dict:
    """Answer ``request`` in this process from a store opened read-only (no daemon)."""
    from ..pipeline.inspect import StoreInspector
    from ..serve.lookup import LookupService
    from ..store import KV_MODEL_VERSION, Store

    cfg = load_config(config_path)
    with Store.open(store_dir, read_only=True) as store:
        inspector: list[StoreInspector] = []

        def candidates(tracklet_id: str, k: int) -> dict:
            if not inspector:                  # rebuilding the window is the slow part: only when asked
                inspector.append(StoreInspector(cfg, store))
            return inspector[0].candidates(tracklet_id, k)

        service = LookupService(store, candidates=candidates,
                                current_version=lambda: store.kv_get(KV_MODEL_VERSION, 0))
        return service.handle(request)


def forget_in_store(store_dir: str, request: dict) -> dict:
    """Forget in a store no associator is running on (it is opened for writing, which takes the
    writer's lock: refused, with a clear line, while an associator holds it)."""
    from ..errors import StoreError
    from ..serve.lookup import LookupService
    from ..store import Store

    try:
        store = Store.open(store_dir)
    except StoreError as e:
        if "held by another writer" in str(e):
            raise TastrError(f"--store {store_dir}: an associator is running on this store; forget through it "
                             f"(lookup --config FILE forget ID, without --store) so its live window forgets too") from None
        raise
    with store:
        def forget(identity_id: int) -> dict:
            in_store = set(store.identity_members(identity_id))
            report = store.forget(identity_id)
            return {"identity_id": identity_id, "found": report.found or bool(in_store), "removed": report.removed,
                    "window": 0}

        return LookupService(store, forget=forget).handle(request)


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def candidates_table(reply: dict[str, Any]) -> str:
    """The ranked candidates as a plain-text table, one visit per line."""
    me = reply["identity_id"]
    lines = [f"candidates for {reply['tracklet_id']} ({reply['camera_id']}, identity "
             f"{'-' if me is None else me}, model v{reply['model_version']})",
             "dt: + the candidate came after, - before; t̄±σ: the pair's transfer time (where it came from)"]
    head = ("rank", "camera", "tracklets", "D", "dt vs t̄±σ (prior)", "R", "D/R", "confidence", "identity")
    rows = []
    for c in reply["candidates"]:
        sign = "+" if c["direction"] == "after" else "-"
        ident = "-" if c["identity_id"] is None else f"{c['identity_id']}{' (same)' if c['identity_id'] == me else ''}"
        rows.append((str(c["rank"]), c["camera_id"], ",".join(c["tracklet_ids"]), _f(c["feature_distance"]),
                     f"{sign}{c['dt_s']:.1f} s vs {c['transfer_mean_s']:.1f}±{c['transfer_std_s']:.1f} s ({c['prior']})",
                     _f(c["r"]), _f(c["joint_distance"]), _f(c["confidence"], 2), ident))
    if not rows:
        return "\n".join(lines + ["no visits of other cameras in the window"])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    numeric = {0, 3, 5, 6, 7}
    for r in [head, *rows]:
        lines.append("  ".join(v.rjust(w) if i in numeric else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths)))
                     .rstrip())
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.store and args.query == "image":
        raise TastrError("image search needs the associator's model: ask the running associator (without --store)")
    if args.store and not args.config:
        raise TastrError("--store needs --config FILE (the run's network and association settings)")
    request = build_request(args.query, args.args, args.k)
    if args.store and args.query == "forget":
        reply = forget_in_store(args.store, request)
    elif args.store:
        reply = ask_store(args.config, args.store, request)
    elif args.endpoint or args.config:
        cfg = load_config(args.config) if args.config else None
        security = cfg.security if cfg is not None else SecurityConfig()
        if args.token_file:
            security = security.model_copy(update={"token_file": args.token_file})
        endpoint = args.endpoint or cfg.endpoints.lookup
        reply = ask_daemon(endpoint, request, args.timeout, load_token(security))
    else:
        raise TastrError("give --config FILE or --endpoint tcp://HOST:PORT (or --config FILE --store DIR)")
    if args.query == "candidates" and reply.get("ok") and not args.json:
        print(candidates_table(reply))
        return 0

    def default(o):
        return f"<{len(o)} bytes>" if isinstance(o, bytes) else str(o)

    json.dump(reply, sys.stdout, indent=2, default=default)
    sys.stdout.write("\n")
    return 0 if reply.get("ok") else 1
