"""Live lookups: "where else was this person seen?", answered from the durable store.

One handler serves both front ends (ZeroMQ request/reply and HTTP JSON). Requests are plain
maps with an ``op``; every reply has ``ok`` and either the answer or an ``error`` that says
what was wrong with the request. A bad request never raises out of :meth:`LookupService.handle`.

ops:
  ``tracklet``      {tracklet_id}                 -> identity and every sighting across cameras
  ``camera_track``  {camera_id, local_track_id}   -> the same, for each tracklet of that local track
  ``identity``      {identity_id}                 -> every sighting of that identity
  ``candidates``    {tracklet_id, k=10}           -> the other cameras' visits ranked for that tracklet
  ``image``         {jpeg: bytes, k}              -> the k tracklets nearest to a person image
  ``recent``        {limit}                       -> the most recently active identities
  ``stats``         {}                            -> store and model figures
  ``forget``        {identity_id}                 -> that person removed everywhere; counts per kind

Every sighting says why it belongs to its identity: ``why`` lists the shown links touching it
(``identity_links``), each with D, R, dt against the pair's transfer time and spread, where that
prior came from, the confidence, the model version and the ``other`` tracklet. A ``candidates``
row carries the same figures for a link that may or may not have been made, so an operator can
confirm or reject a match. ``candidates`` is answered by the callable given to the service (the
live associator's window, or ``pipeline.inspect.StoreInspector`` over a finished run's store).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import numpy as np

from ..errors import TastrError
from ..store import IdentityLinkRow, Store
from ..store.rows import Sighting
from .upload import UploadRejected, blur_upload_head, check_upload

log = logging.getLogger(__name__)
MAX_K = 100
MAX_ID = 2**63 - 1
OPS = ("tracklet", "camera_track", "identity", "candidates", "image", "recent", "stats", "forget")
# (tracklet_id, k) -> {tracklet_id, camera_id, identity_id, model_version, candidates: [...]}
CandidatesFn = Callable[[str, int], dict[str, Any]]
# (identity_id) -> {identity_id, found, removed: {kind: count}, window}
ForgetFn = Callable[[int], dict[str, Any]]


class BadRequest(TastrError):
    """The request names an unknown op, lacks a field or has a value of the wrong type."""


def _field(body: dict, name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in body:
        raise BadRequest(f"missing field {name!r}")
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise BadRequest(f"field {name!r} must be {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
    if isinstance(value, int) and not 0 <= value <= MAX_ID:
        # Ids are SQLite integers: a larger one used to end the associator (OverflowError).
        raise BadRequest(f"field {name!r} must be an int in 0..{MAX_ID}, got {value}")
    return value


def _k(body: dict, default: int) -> int:
    k = body.get("k", default)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise BadRequest(f"field 'k' must be an int in 1..{MAX_K}, got {k!r}")
    return k


def why_dict(link: IdentityLinkRow, tracklet_id: str) -> dict[str, Any]:
    """One shown link touching ``tracklet_id``, as a sighting's explanation."""
    return {**link.explain, "status": link.status, "kind": link.kind, "confidence": round(link.confidence, 4),
            "model_version": link.model_version, "other": link.b if tracklet_id == link.a else link.a}


def sighting_dict(s: Sighting, with_thumbnail: bool = True) -> dict[str, Any]:
    out = {"tracklet_id": s.tracklet_id, "identity_id": s.identity_id, "camera_id": s.camera_id,
           "local_track_id": s.local_track_id, "t_start_s": s.t_start_s, "t_end_s": s.t_end_s,
           "status": s.status, "evicted": s.evicted}
    if with_thumbnail:
        out["thumbnail_jpeg"] = s.thumbnail_jpeg
    return out


class LookupService:
    def __init__(self, store: Store, embed_image: Callable[[bytes], tuple[np.ndarray | None, int]] | None = None,
                 current_version: Callable[[], int] = lambda: 0, observe: Callable[[str, float], None] | None = None,
                 candidates: CandidatesFn | None = None, forget: ForgetFn | None = None, blur_heads: bool = False):
        """``candidates(tracklet_id, k)`` ranks other cameras' visits (``AssociatorCore.candidates``
        or ``StoreInspector.candidates``); it may raise TastrError, which becomes an error reply.
        ``forget(identity_id)`` removes one person everywhere (``AssociatorCore.forget``, which
        also clears the live window); without it the op is refused. ``blur_heads``: blur the head
        of an uploaded image before embedding it, as the stored crops were (``ingest.tracklet.blur_heads``)."""
        self.store = store
        self.embed_image = embed_image
        self.candidates = candidates
        self.forget = forget
        self.blur_heads = blur_heads
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
                raise BadRequest(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
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
    def _with_why(self, sightings: list[dict[str, Any]]) -> None:
        """Add ``why`` to every sighting of one answer, from one store query for all of them.
        Links into a sighting (from an earlier one) come before links out of it."""
        if not sightings:
            return
        by_tracklet: dict[str, list[IdentityLinkRow]] = {}
        for link in self.store.identity_links(tracklet_ids=[s["tracklet_id"] for s in sightings]):
            by_tracklet.setdefault(link.a, []).append(link)
            by_tracklet.setdefault(link.b, []).append(link)
        for s in sightings:
            tid = s["tracklet_id"]
            links = sorted(by_tracklet.get(tid, []), key=lambda l: (l.explain.get("tracklet_b") != tid, l.a, l.b))
            s["why"] = [why_dict(l, tid) for l in links]

    def _identity_answer(self, tracklet_id: str, thumbs: bool) -> dict[str, Any]:
        identity = self.store.identity_of(tracklet_id)
        if identity is None:
            if self.store.get_tracklet(tracklet_id) is None:
                raise BadRequest(f"unknown tracklet {tracklet_id!r}")
            return {"tracklet_id": tracklet_id, "identity_id": None, "sightings": []}
        return {"tracklet_id": tracklet_id, "identity_id": identity,
                "sightings": [sighting_dict(s, thumbs) for s in self.store.sightings(identity)]}

    def _op_tracklet(self, body: dict, thumbs: bool) -> dict[str, Any]:
        answer = self._identity_answer(_field(body, "tracklet_id", str), thumbs)
        self._with_why(answer["sightings"])
        return answer

    def _op_camera_track(self, body: dict, thumbs: bool) -> dict[str, Any]:
        camera = _field(body, "camera_id", str)
        local = _field(body, "local_track_id", int)
        ids = self.store.find_by_camera_track(camera, local)
        if not ids:
            raise BadRequest(f"no tracklet of camera {camera!r} with local track id {local}")
        results = [self._identity_answer(t, thumbs) for t in ids]
        self._with_why([s for r in results for s in r["sightings"]])
        return {"results": results}

    def _op_identity(self, body: dict, thumbs: bool) -> dict[str, Any]:
        identity = _field(body, "identity_id", int)
        sightings = self.store.sightings(identity)
        if not sightings:
            raise BadRequest(f"unknown identity {identity}")
        out = [sighting_dict(s, thumbs) for s in sightings]
        self._with_why(out)
        return {"identity_id": identity, "sightings": out}

    def _op_candidates(self, body: dict, thumbs: bool) -> dict[str, Any]:
        tracklet_id = _field(body, "tracklet_id", str)
        k = _k(body, 10)
        if self.candidates is None:
            raise BadRequest("candidates are not available here (no association window to rank from)")
        try:
            return dict(self.candidates(tracklet_id, k))
        except TastrError:
            if self.store.identity_of(tracklet_id) is None and self.store.get_tracklet(tracklet_id) is None:
                raise BadRequest(f"unknown tracklet {tracklet_id!r}") from None
            raise                                # known, but not rankable (evicted, no embedding...)

    def _op_image(self, body: dict, thumbs: bool) -> dict[str, Any]:
        jpeg = _field(body, "jpeg", bytes)
        k = _k(body, 5)
        try:
            check_upload(jpeg)              # from the header: nothing huge is ever decoded
        except UploadRejected as e:
            raise BadRequest(str(e)) from None
        if self.embed_image is None:
            raise BadRequest("image search is not available on this associator (no model loaded)")
        if self.blur_heads:                 # the gallery's crops are blurred: the query must be too
            jpeg = blur_upload_head(jpeg)
            if jpeg is None:
                raise BadRequest("the uploaded bytes are not a decodable image")
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
        self._with_why([s for group in seen.values() for s in group])
        return {"identities": [{"identity_id": i, "sightings": s} for i, s in seen.items()]}

    def _op_forget(self, body: dict, thumbs: bool) -> dict[str, Any]:
        identity = _field(body, "identity_id", int)
        if self.forget is None:
            raise BadRequest("forget is not available here (it needs the associator that writes the store)")
        out = dict(self.forget(identity))
        if not out.get("found"):
            raise BadRequest(f"unknown identity {identity}: nothing to forget (never stored, or already forgotten)")
        log.info("forget request served", extra={"kv": {"identity": identity}})
        return out

    def _op_stats(self, body: dict, thumbs: bool) -> dict[str, Any]:
        st = self.store.stats()
        return {"tracklets": st.tracklets, "evicted": st.evicted, "identities": st.identities,
                "links": st.links, "shown_links": st.shown_links, "store_bytes": st.total_bytes,
                "model_version": self.current_version()}
