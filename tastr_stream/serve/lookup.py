"""Live lookups: "where else was this person seen?", answered from the durable store.

One handler serves both front ends (ZeroMQ request/reply and HTTP JSON). Requests are plain
maps with an ``op``; every reply has ``ok`` and either the answer or an ``error`` that says
what was wrong with the request. A bad request never raises out of :meth:`LookupService.handle`.

ops:
  ``tracklet``      {tracklet_id}                 -> identity and every sighting across cameras
  ``camera_track``  {camera_id, local_track_id}   -> the same, for each tracklet of that local track
  ``identity``      {identity_id}                 -> every sighting of that identity
  ``image``         {jpeg: bytes, k}              -> the k tracklets nearest to a person image
  ``recent``        {limit}                       -> the most recently active identities
  ``stats``         {}                            -> store and model figures
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import numpy as np

from ..errors import TastrError
from ..store import Store
from ..store.rows import Sighting

log = logging.getLogger(__name__)
MAX_K = 100


class BadRequest(TastrError):
    """The request names an unknown op, lacks a field or has a value of the wrong type."""


def _field(body: dict, name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in body:
        raise BadRequest(f"missing field {name!r}")
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise BadRequest(f"field {name!r} must be {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
    return value


def sighting_dict(s: Sighting, with_thumbnail: bool = True) -> dict[str, Any]:
    out = {"tracklet_id": s.tracklet_id, "identity_id": s.identity_id, "camera_id": s.camera_id,
           "local_track_id": s.local_track_id, "t_start_s": s.t_start_s, "t_end_s": s.t_end_s,
           "status": s.status, "evicted": s.evicted}
    if with_thumbnail:
        out["thumbnail_jpeg"] = s.thumbnail_jpeg
    return out


class LookupService:
    def __init__(self, store: Store, embed_image: Callable[[bytes], tuple[np.ndarray | None, int]] | None = None,
                 current_version: Callable[[], int] = lambda: 0, observe: Callable[[str, float], None] | None = None):
        self.store = store
        self.embed_image = embed_image
        self.current_version = current_version
        self.observe = observe

    def handle(self, body: Any, with_thumbnails: bool = True) -> dict[str, Any]:
        t0 = time.perf_counter()
        op = body.get("op") if isinstance(body, dict) else None
        try:
            if not isinstance(body, dict):
                raise BadRequest(f"request must be a map, got {type(body).__name__}")
            handler = getattr(self, f"_op_{op}", None) if isinstance(op, str) and op.isidentifier() else None
            if handler is None:
                raise BadRequest(f"unknown op {op!r}; expected one of tracklet, camera_track, identity, image, recent, stats")
            reply = {"ok": True, "op": op, **handler(body, with_thumbnails)}
        except BadRequest as e:
            reply = {"ok": False, "op": op, "error": str(e)}
        except TastrError as e:
            log.warning("lookup failed", extra={"kv": {"op": op, "error": e}})
            reply = {"ok": False, "op": op, "error": str(e)}
        if self.observe:
            self.observe(str(op), time.perf_counter() - t0)
        return reply

    # ------------------------------------------------------------------ ops
    def _identity_answer(self, tracklet_id: str, thumbs: bool) -> dict[str, Any]:
        identity = self.store.identity_of(tracklet_id)
        if identity is None:
            if self.store.get_tracklet(tracklet_id) is None:
                raise BadRequest(f"unknown tracklet {tracklet_id!r}")
            return {"tracklet_id": tracklet_id, "identity_id": None, "sightings": []}
        return {"tracklet_id": tracklet_id, "identity_id": identity,
                "sightings": [sighting_dict(s, thumbs) for s in self.store.sightings(identity)]}

    def _op_tracklet(self, body: dict, thumbs: bool) -> dict[str, Any]:
        return self._identity_answer(_field(body, "tracklet_id", str), thumbs)

    def _op_camera_track(self, body: dict, thumbs: bool) -> dict[str, Any]:
        camera = _field(body, "camera_id", str)
        local = _field(body, "local_track_id", int)
        ids = self.store.find_by_camera_track(camera, local)
        if not ids:
            raise BadRequest(f"no tracklet of camera {camera!r} with local track id {local}")
        return {"results": [self._identity_answer(t, thumbs) for t in ids]}

    def _op_identity(self, body: dict, thumbs: bool) -> dict[str, Any]:
        identity = _field(body, "identity_id", int)
        sightings = self.store.sightings(identity)
        if not sightings:
            raise BadRequest(f"unknown identity {identity}")
        return {"identity_id": identity, "sightings": [sighting_dict(s, thumbs) for s in sightings]}

    def _op_image(self, body: dict, thumbs: bool) -> dict[str, Any]:
        jpeg = _field(body, "jpeg", bytes)
        k = body.get("k", 5)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise BadRequest(f"field 'k' must be an int in 1..{MAX_K}, got {k!r}")
        if self.embed_image is None:
            raise BadRequest("image search is not available on this associator (no model loaded)")
        query, version = self.embed_image(jpeg)
        if query is None:
            raise BadRequest("the uploaded bytes are not a decodable image")
        gallery = self.store.embeddings(version)
        if not gallery.ids:
            return {"model_version": version, "results": []}
        d = np.linalg.norm(gallery.vectors - query[None, :].astype(np.float32), axis=1)
        order = np.argsort(d, kind="stable")[:k]
        results = []
        for i in order:
            tid = gallery.ids[i]
            t = self.store.get_tracklet(tid)
            results.append({"tracklet_id": tid, "distance": float(d[i]), "identity_id": self.store.identity_of(tid),
                            "camera_id": t.camera_id if t else None,
                            "t_start_s": t.t_start_s if t else None, "t_end_s": t.t_end_s if t else None})
        return {"model_version": version, "results": results}

    def _op_recent(self, body: dict, thumbs: bool) -> dict[str, Any]:
        limit = body.get("limit", 20)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 500:
            raise BadRequest(f"field 'limit' must be an int in 1..500, got {limit!r}")
        newest = self.store.kv_get("newest_event_s", None)
        if newest is None:
            return {"identities": []}
        seen: dict[int, list[dict]] = {}
        for t in reversed(self.store.tracklets_between(newest - 3600.0, newest)):
            ident = self.store.identity_of(t.tracklet_id)
            if ident is not None and ident not in seen:
                seen[ident] = [sighting_dict(s, thumbs) for s in self.store.sightings(ident)]
                if len(seen) >= limit:
                    break
        return {"identities": [{"identity_id": i, "sightings": s} for i, s in seen.items()]}

    def _op_stats(self, body: dict, thumbs: bool) -> dict[str, Any]:
        st = self.store.stats()
        return {"tracklets": st.tracklets, "evicted": st.evicted, "identities": st.identities,
                "links": st.links, "store_bytes": st.total_bytes, "model_version": self.current_version()}
