"""``tastr-stream lookup``: ask a running associator where else a person was seen.

  tastr-stream lookup --config FILE tracklet cam3:a1b2:17
  tastr-stream lookup --config FILE camera cam3 17
  tastr-stream lookup --config FILE identity 42
  tastr-stream lookup --config FILE image person.jpg [--k 5]
  tastr-stream lookup --config FILE recent | stats
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config import load_config
from ..errors import TastrError
from ..wire.rpc import RpcClient


def register(sub) -> None:
    p = sub.add_parser("lookup", help="query a running associator (tracklet, camera track, identity, image)")
    p.add_argument("--config", help="TOML config (for endpoints.lookup)")
    p.add_argument("--endpoint", help="lookup endpoint, overrides the config (e.g. tcp://127.0.0.1:5702)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply")
    p.add_argument("--k", type=int, default=5, help="image search: number of results")
    p.add_argument("query", choices=["tracklet", "camera", "identity", "image", "recent", "stats"])
    p.add_argument("args", nargs="*", help="tracklet ID | CAMERA TRACK | IDENTITY | IMAGE_FILE")
    p.set_defaults(func=run)


def build_request(query: str, args: list[str], k: int) -> dict:
    def need(n: int, what: str) -> None:
        if len(args) != n:
            raise TastrError(f"lookup {query} needs {what}, got {args}")

    if query == "tracklet":
        need(1, "one tracklet id")
        return {"op": "tracklet", "tracklet_id": args[0]}
    if query == "camera":
        need(2, "a camera id and a local track id")
        if not args[1].isdigit():
            raise TastrError(f"local track id must be an integer, got {args[1]!r}")
        return {"op": "camera_track", "camera_id": args[0], "local_track_id": int(args[1])}
    if query == "identity":
        need(1, "one identity id")
        if not args[0].isdigit():
            raise TastrError(f"identity id must be an integer, got {args[0]!r}")
        return {"op": "identity", "identity_id": int(args[0])}
    if query == "image":
        need(1, "one image file")
        try:
            data = Path(args[0]).read_bytes()
        except OSError as e:
            raise TastrError(f"cannot read image {args[0]}: {e.strerror}") from None
        return {"op": "image", "jpeg": data, "k": k}
    need(0, "no arguments")
    return {"op": query}


def run(args: argparse.Namespace) -> int:
    if args.endpoint:
        endpoint = args.endpoint
    elif args.config:
        endpoint = load_config(args.config).endpoints.lookup
    else:
        raise TastrError("give --config FILE or --endpoint tcp://HOST:PORT")
    client = RpcClient(endpoint)
    try:
        reply = client.call(build_request(args.query, args.args, args.k), timeout_s=args.timeout)
    finally:
        client.close()

    def default(o):
        return f"<{len(o)} bytes>" if isinstance(o, bytes) else str(o)

    json.dump(reply, sys.stdout, indent=2, default=default)
    sys.stdout.write("\n")
    return 0 if reply.get("ok") else 1
