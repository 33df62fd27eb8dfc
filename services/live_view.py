"""Progress and live cross-camera links, printed while a network runs (demo, replay)."""

from __future__ import annotations

import time

from tastr_stream.errors import TastrError
from tastr_stream.wire.rpc import RpcClient


class LiveView:
    def __init__(self, lookup_endpoint: str, out=print, token: str | None = None):
        self.client = RpcClient(lookup_endpoint, token=token)
        self.out = out
        self.shown: dict[int, int] = {}      # identity -> cameras already printed
        self.started = time.monotonic()
        self.silent_ticks = 0                # consecutive ticks without an answer (printed once)

    def tick(self, running: int) -> None:
        try:
            stats = self.client.call({"op": "stats"}, timeout_s=2.0)
            recent = self.client.call({"op": "recent", "limit": 50}, timeout_s=2.0)
        except TastrError as e:
            # Busy (e.g. a long lookup) or gone: say so once, not every tick; the runner watches exits.
            if self.silent_ticks == 0:
                self.out(f"  [{time.monotonic() - self.started:6.1f}s] associator not answering ({e}); waiting")
            self.silent_ticks += 1
            return
        if self.silent_ticks:
            self.out(f"  [{time.monotonic() - self.started:6.1f}s] associator answering again "
                     f"(after {self.silent_ticks} silent ticks)")
            self.silent_ticks = 0
        for ident in recent.get("identities", []):
            cams = sorted({s["camera_id"] for s in ident["sightings"]})
            if len(cams) >= 2 and self.shown.get(ident["identity_id"], 0) < len(cams):
                self.shown[ident["identity_id"]] = len(cams)
                path = " -> ".join(f"{s['camera_id']}@{s['t_start_s']:.0f}s"
                                   for s in sorted(ident["sightings"], key=lambda s: s["t_start_s"]))
                self.out(f"  link: identity {ident['identity_id']:>4}: {path}")
        pairs = stats.get("links", {})
        shown = stats.get("shown_links", {})
        self.out(f"  [{time.monotonic() - self.started:6.1f}s] cameras live {running}  tracklets {stats.get('tracklets', 0)}"
                 f"  identities {stats.get('identities', 0)}"
                 f"  cross links {shown.get('provisional', 0) + shown.get('final', 0)}"
                 f"  training pairs {pairs.get('provisional', 0) + pairs.get('final', 0)}"
                 f"  model v{stats.get('model_version', 0)}")

    def close(self) -> None:
        self.client.close()
