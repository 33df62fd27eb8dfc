"""The associator's core: every received tracklet is stored, associated and reflected in the store.

Order per tracklet: validate -> store (commit) -> associate -> store the changed links and
identities. The daemon acknowledges to the sender only after :meth:`AssociatorCore.receive`
returns, so an acknowledged tracklet is always on disk; links and identities are recomputed
from stored tracklets after a crash (the incremental result does not depend on arrival order).

Embeddings of different model versions are never compared: a tracklet embedded by a version
other than the window's is re-embedded from its crops with the window's model, and a new
model version re-embeds the whole window before the switch (``swap_model``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..associate import IncrementalAssociator, TrackletMeta, TransferPrior
from ..associate.live_linker import LinkUpdate, LiveLinker
from ..associate.records import AssociatedPair, Relink
from ..associate.transfer import TransferModel
from ..associate.trusted import TrustedLink
from ..config import AppConfig
from ..errors import TastrError
from ..serve.metrics import AssociatorMetrics
from ..store import KV_MODEL_VERSION, IdentityLinkRow, LinkRow, Store
from ..store.writes import content_digest
from ..tracklet.builder import crops_to_embed
from ..wire.records import Tracklet
from .identity_ids import IdentityIds

log = logging.getLogger(__name__)
KV_TRANSFER = "transfer_samples"
KV_ZONES = "zone_counts"
KV_KNOWN_VERSIONS = "known_model_versions"


def first_decodable_crop(crops_jpeg: tuple[bytes, ...]) -> int | None:
    """Index of the first crop that decodes as an image (what re-embedding needs), None if none does.
    Decodes at 1/8 scale: enough to tell a JPEG from garbage at a fraction of the cost."""
    for i, crop in enumerate(crops_jpeg):
        if crop and cv2.imdecode(np.frombuffer(crop, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8) is not None:
            return i
    return None


class RejectedTracklet(TastrError):
    """A well-formed tracklet the associator will not take (unknown camera, no embedding...).
    ``reason`` is the short label it is counted under in metrics."""

    def __init__(self, message: str, reason: str = "rejected"):
        super().__init__(message)
        self.reason = reason


@dataclass
class RoundPolicy:
    """When to ask the trainer for a round: enough new accepted pairs, or a period elapsed."""

    after_new_pairs: int
    period_s: float
    new_pairs: int = 0
    last_request_s: float = field(default_factory=time.monotonic)

    def due(self, now_s: float) -> str | None:
        if self.new_pairs >= self.after_new_pairs:
            return f"{self.new_pairs} new accepted pairs"
        if self.new_pairs > 0 and now_s - self.last_request_s >= self.period_s:
            return f"period of {self.period_s:.0f} s elapsed"
        return None

    def requested(self, now_s: float) -> None:
        self.new_pairs = 0
        self.last_request_s = now_s


def meta_of(t: Tracklet, version: int) -> TrackletMeta:
    """What association reads of a stored or received tracklet (embedding of ``version``)."""
    boxes = t.boxes_xyxy
    return TrackletMeta(t.tracklet_id, t.camera_id, t.t_start_s, t.t_end_s,
                        np.asarray(t.embedding, dtype=np.float32), version,
                        n_crops=max(1, len(t.crop_times_s) or len(t.crops_jpeg)),
                        first_box_xyxy=tuple(boxes[0]) if len(boxes) else None,
                        last_box_xyxy=tuple(boxes[-1]) if len(boxes) else None)


def _identity_link_row(link: TrustedLink, status: str, version: int, now_event_s: float,
                       final_at_event_s: float | None) -> IdentityLinkRow:
    return IdentityLinkRow(link.tracklet_a, link.tracklet_b, link.kind, status, min(1.0, max(0.0, link.confidence)),
                           version, {**link.explain(), "model_version": version}, shown_at_event_s=now_event_s,
                           final_at_event_s=final_at_event_s, updated_at_s=time.time())


def _link_row(link: AssociatedPair | Relink, status: str, version: int) -> LinkRow:
    if isinstance(link, AssociatedPair):
        return LinkRow(link.tracklet_a, link.tracklet_b, link.feature_distance, link.joint_distance, link.r,
                       status=status, model_version=version, updated_at_s=time.time())
    return LinkRow(link.tracklet_before, link.tracklet_after, link.feature_distance, link.feature_distance, 1.0,
                   status=status, model_version=version, updated_at_s=time.time())


class AssociatorCore:
    def __init__(self, config: AppConfig, store: Store, embed_crops=None, metrics: AssociatorMetrics | None = None,
                 initial_version: int = 0):
        """``embed_crops(list[bytes]) -> (mean embedding, version)`` re-embeds with the window's model;
        ``initial_version`` is the model version of an empty store (the extractors' starting model)."""
        self.config = config
        self.store = store
        self.embed_crops = embed_crops
        self.metrics = metrics
        acfg = config.associator
        self.prior = TransferPrior.from_network(config.network, acfg.association.str_prior)
        self.cameras = set(config.network.camera_ids)
        self.policy = RoundPolicy(acfg.train_after_new_pairs, acfg.train_period_s)
        self.assoc = IncrementalAssociator(self.prior, acfg.association, acfg.window)
        trust = acfg.association.trust
        self.transfer = TransferModel(config.network.transfer_matrix_s(), acfg.association.str_prior.lambda_,
                                      trust.learned_prior)
        self.linker = LiveLinker(self.transfer, trust)
        self.ids = IdentityIds()
        self.initial_version = initial_version
        self.model_version = initial_version
        # Versions that exist: the starting model, every version served and every one announced.
        # A tracklet claiming a newer one is refused (it used to become the served version after
        # a restart, which then ignored the real announcements).
        self.known_versions: set[int] = {initial_version}
        self.newest_event_s = -np.inf
        self._newest_at_wall_s = time.monotonic()

    # ------------------------------------------------------------------ restart
    def restore(self) -> int:
        """Rebuild the window from the store (after a restart); returns tracklets restored."""
        window_s = self.config.associator.window.window_s
        newest = self.store.kv_get("newest_event_s", None)
        t_from = (newest - window_s) if newest is not None else -np.inf
        # The served version is what the store recorded at the last switch, else the starting
        # model: never the largest version some tracklet's embedding claims.
        stored = self.store.kv_get(KV_MODEL_VERSION, None)
        self.model_version = int(stored) if isinstance(stored, int) and stored >= 0 else self.initial_version
        if stored is None:
            self.store.kv_set(KV_MODEL_VERSION, self.model_version)
        known = self.store.kv_get(KV_KNOWN_VERSIONS, [])
        self.known_versions |= {int(v) for v in known if isinstance(v, int)} | {self.model_version}
        loaded = self.store.load_window(t_from if np.isfinite(t_from) else -1e18, self.model_version)
        self.ids = IdentityIds(loaded.next_identity_id)
        self.transfer.load_json(self.store.kv_get(KV_TRANSFER, {}))
        self.linker.zones.load_json(self.store.kv_get(KV_ZONES, {}))
        unusable = dict(loaded.unreadable)
        for t in sorted(loaded.tracklets, key=lambda t: (t.t_end_s, t.tracklet_id)):
            try:
                problem = self._restore_one(t)
            except (TastrError, ValueError) as exc:      # one stored row must not keep the daemon down
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                unusable[t.tracklet_id] = problem
        if unusable:
            self._quarantine(unusable, "restore")
        self.store.upsert_links(_link_row(l, "provisional", self.model_version)
                                for l in self.assoc.links() + self.assoc.relinks())
        self.linker.restore([(TrustedLink.from_explain(r.explain), r.status == "final")
                             for r in self.store.identity_links()], self.newest_event_s)
        self.ids.adopt(self.linker.identities(), loaded.identities)
        self._write_identities(self.linker.identities().keys())
        if self.metrics:
            self._update_gauges()      # a restarted daemon reports its restored window at once
        log.info("window restored", extra={"kv": {"tracklets": len(self.assoc.tracklets()),
                                                  "links": len(self.assoc.links()), "version": self.model_version}})
        return len(self.assoc.tracklets())

    def _restore_one(self, t: Tracklet) -> str | None:
        """Put one stored tracklet back in the window; what makes it unusable, or None."""
        if t.camera_id not in self.cameras:
            return f"camera {t.camera_id!r} is not in the network"
        want = self.config.model.emb_dim
        if t.embedding is not None and np.asarray(t.embedding).shape != (want,):
            t = dataclasses.replace(t, embedding=None)   # another box's model: re-embed from the crops
        if t.embedding is None or t.model_version != self.model_version:
            t = self._reembedded(t)
            if t is None:
                return None if self.embed_crops is None else "no crop decodes: cannot be embedded"
        meta = self._meta(t)
        changes = self.assoc.add(meta)
        if changes.accepted:
            self._linker_add(meta, changes.evicted)
        self.newest_event_s = max(self.newest_event_s, t.t_end_s)
        return None

    def _quarantine(self, problems: dict[str, str], where: str) -> None:
        """Set aside stored tracklets the window cannot use: marked in the store (left out of every
        later window), logged once, counted."""
        n = self.store.quarantine(problems)
        first = sorted(problems.items())[:3]
        log.warning("stored tracklets quarantined", extra={"kv": {"where": where, "count": len(problems),
                                                                  "new": n, "first": first}})
        if self.metrics:
            self.metrics.quarantined.labels(where=where).inc(len(problems))

    def note_version(self, version: int) -> None:
        """A model version exists (announced by the trainer, or switched to); remembered across restarts."""
        if version not in self.known_versions:
            self.known_versions.add(int(version))
            self.store.kv_set(KV_KNOWN_VERSIONS, sorted(self.known_versions))

    # ------------------------------------------------------------------ intake
    def receive(self, tracklet: Tracklet) -> bool:
        """Store and associate one tracklet. False when it was a duplicate delivery."""
        if self._validate(tracklet):
            return False                      # the same content again: a resend, already stored
        t0 = time.perf_counter()
        if not self.store.put_tracklet(tracklet):
            return False
        if self.metrics:
            self.metrics.tracklets_received.labels(camera=tracklet.camera_id).inc()
        if tracklet.embedding is None or tracklet.model_version != self.model_version:
            tracklet = self._reembedded(tracklet)
            if tracklet is None:
                return True
            self.store.put_embedding(tracklet.tracklet_id, self.model_version, tracklet.embedding)
        meta = self._meta(tracklet)
        changes = self.assoc.add(meta)
        if not changes.accepted:
            log.info("tracklet stored but not associated", extra={"kv": {"tracklet": tracklet.tracklet_id,
                                                                         "reason": changes.reason}})
            return True
        if tracklet.t_end_s > self.newest_event_s:
            self.newest_event_s = tracklet.t_end_s
            self._newest_at_wall_s = time.monotonic()
        self._linker_add(meta, changes.evicted)
        self._apply(changes)
        if self.metrics:
            self.metrics.latency.observe(time.perf_counter() - t0)
        return True

    def event_now_s(self, wall_now_s: float | None = None) -> float:
        """The event clock: the newest tracklet end, or the wall clock's advance past it once no
        tracklet has come for ``window.clock_follows_wall_after_s`` (live cameras, quiet site)."""
        wall = time.monotonic() if wall_now_s is None else wall_now_s
        idle = wall - self._newest_at_wall_s - self.config.associator.window.clock_follows_wall_after_s
        return self.newest_event_s + max(0.0, idle)

    def _validate(self, t: Tracklet) -> bool:
        """Refuse, before anything is stored or any clock moves, what would break association:
        a stored tracklet that cannot be associated used to stop the daemon at every restart.
        True when the store already holds this very tracklet (a resend: nothing to check)."""
        held = self.store.stored_content(t.tracklet_id)
        if held is not None:
            if held.where == "forgotten":
                return True                   # forgotten on request: a spool's resend is dropped
            if held.digest is not None:
                same = held.digest == content_digest(t)
            else:                             # stored before digests existed: compare what remains
                same = (held.camera_id, held.local_track_id, held.t_start_s, held.t_end_s) == (
                    t.camera_id, int(t.local_track_id), float(t.t_start_s), float(t.t_end_s))
            if not same:
                raise RejectedTracklet(f"tracklet {t.tracklet_id}: id already stored ({held.where}) with different "
                                       f"content (camera, times, boxes or crops differ): a reused id",
                                       "duplicate-id-different-content")
            return True
        if t.camera_id not in self.cameras:
            raise RejectedTracklet(f"tracklet {t.tracklet_id}: unknown camera {t.camera_id!r}; "
                                   f"the network has {sorted(self.cameras)}", "unknown_camera")
        if t.embedding is None and not t.crops_jpeg:
            raise RejectedTracklet(f"tracklet {t.tracklet_id}: neither an embedding nor crops", "empty")
        want = self.config.model.emb_dim
        if t.embedding is not None and np.asarray(t.embedding).shape != (want,):
            raise RejectedTracklet(f"tracklet {t.tracklet_id}: embedding of shape {np.asarray(t.embedding).shape}, "
                                   f"this network's models make ({want},) (model.emb_dim)", "embedding_dim")
        newest_known = max(self.known_versions)
        if t.embedding is not None and not -1 <= t.model_version <= newest_known:
            raise RejectedTracklet(f"tracklet {t.tracklet_id}: model_version {t.model_version} is not a version this "
                                   f"network has (known up to {newest_known})", "model_version")
        if t.crops_jpeg and first_decodable_crop(t.crops_jpeg) is None:
            raise RejectedTracklet(f"tracklet {t.tracklet_id}: none of its {len(t.crops_jpeg)} crops decodes as an "
                                   f"image: it could never be re-embedded", "crops_undecodable")
        ahead = self.config.associator.window.max_future_s
        if np.isfinite(self.newest_event_s) and t.t_end_s > self.newest_event_s + ahead:
            raise RejectedTracklet(f"tracklet {t.tracklet_id}: ends at {t.t_end_s:.3f} s, more than {ahead:.0f} s "
                                   f"after the newest tracklet ({self.newest_event_s:.3f} s): check that camera's "
                                   f"clock (associator.window.max_future_s)", "clock")
        return False

    def finalize(self, wall_now_s: float | None = None, now_event_s: float | None = None) -> int:
        """Decide the links users see and mark final what can no longer change (event time);
        returns how many links became final. ``now_event_s`` overrides the event clock (replays)."""
        if not np.isfinite(self.newest_event_s):
            return 0
        done = self.assoc.finalize(self.newest_event_s)
        links = list(done.pairs) + list(done.relinks)
        if links:
            self.store.upsert_links(_link_row(l, "final", self.model_version) for l in links)
        now = self.event_now_s(wall_now_s) if now_event_s is None else float(now_event_s)
        update = self.linker.update(now)
        self._store_link_update(update, now)
        self.store.kv_set("newest_event_s", float(self.newest_event_s))
        return len(update.finalized)

    def _store_link_update(self, update: LinkUpdate, now_event_s: float) -> None:
        """Shown links (provisional), retractions, finality and identity changes, to the store."""
        version = self.model_version
        final = {l.key for l in update.finalized}
        rows = [_identity_link_row(l, "final" if l.key in final or self.linker.is_final(l.key) else "provisional",
                                   version, now_event_s, now_event_s if l.key in final else None)
                for l in {l.key: l for l in update.shown + update.finalized}.values()]
        if rows:
            self.store.upsert_identity_links(rows)
        if update.retracted:
            self.store.retract_identity_links(l.key for l in update.retracted)
        if update.identity_changes:
            self._write_identities(t for t, (_, new) in update.identity_changes.items() if new is not None)
        if final:
            self.store.mark_final({t for l in update.finalized for t in l.key})
        if update.learned:                   # what the site taught survives a restart
            self.store.kv_set(KV_TRANSFER, self.transfer.to_json())
            self.store.kv_set(KV_ZONES, self.linker.zones.to_json())
        if self.metrics:
            for event, n in (("shown", len(update.shown)), ("retracted", len(update.retracted)),
                             ("final", len(update.finalized))):
                if n:
                    self.metrics.identity_links.labels(event=event).inc(n)
            for (a, b), p in self.transfer.pairs().items():
                self.metrics.transfer_mean.labels(pair=f"{a}-{b}", source=p.source).set(p.mean_s)
            self.metrics.identities.set(len(set(self.linker.identities().values())))
            self.metrics.links_waiting.set(self.linker.waiting)

    def swap_model(self, embed_crops, version: int) -> int:
        """Re-embed the whole window with model ``version`` and switch atomically; returns count.

        Blocking; the daemon splits it (``reembed_window`` on a worker thread, then
        ``apply_swap`` on its loop) so that intake and lookups go on meanwhile."""
        return self.apply_swap(embed_crops, version, self.reembed_window(embed_crops, version, self.window_ids()))

    def window_ids(self) -> list[str]:
        return [m.tracklet_id for m in self.assoc.tracklets()]

    def reembed_window(self, embed_crops, version: int, tracklet_ids, cancelled=None) -> dict[str, np.ndarray]:
        """Features of ``tracklet_ids`` by model ``version``, from their stored crops.

        Safe on another thread: it only reads the store (pooled reader connections) and never
        touches the window. Evicted ids are skipped; ``cancelled()`` true stops early (partial)."""
        feats: dict[str, np.ndarray] = {}
        for tid in tracklet_ids:
            if cancelled is not None and cancelled():
                break
            try:
                crops = self.store.crops(tid)
            except TastrError:
                continue                      # evicted meanwhile
            emb, got = embed_crops(crops_to_embed(crops, self.config.model.crops_per_tracklet))
            if got != version:
                raise TastrError(f"re-embedding produced version {got}, expected {version}")
            if emb is not None:
                feats[tid] = emb
        return feats

    def apply_swap(self, embed_crops, version: int, feats: dict[str, np.ndarray]) -> int:
        """Switch the window to ``version`` given features computed off the loop; tracklets that
        arrived since (not in ``feats``) are embedded here. Returns the window size switched."""
        window = self.window_ids()
        feats = {t: feats[t] for t in window if t in feats}
        missing = [t for t in window if t not in feats]
        if missing:
            feats.update(self.reembed_window(embed_crops, version, missing))
        unusable = [t for t in window if t not in feats]
        if unusable:
            # No crop of theirs decodes: they leave the window (and are quarantined) instead of
            # making every swap fail "reembed must cover exactly the window" for good.
            self._quarantine({t: f"no crop decodes for model v{version}" for t in unusable}, "swap")
            self._drop_from_window(set(unusable))
        changes = self.assoc.reembed(feats, version) if feats else None
        if changes is not None:
            self.linker.reembed(self.assoc.tracklets())
        self.store.put_embeddings(version, feats)
        self.store.kv_set(KV_MODEL_VERSION, version)
        self.note_version(version)
        self.embed_crops = embed_crops
        self.model_version = version
        if changes is not None:
            self._apply(changes)
        if self.metrics:
            self.metrics.model_version.set(version)
            self.metrics.model_swaps.inc()
        return len(feats)

    def forget(self, identity_id: int) -> dict:
        """Forget one identity everywhere: the store's rows, crops, thumbnails and links
        (``Store.forget``), and the live window (NN-CCTA's and the linker's). Returns what was
        removed per kind, ``window``: tracklets taken out of the live window."""
        in_window = {t for t, i in self.identities().items() if i == identity_id}
        members = set(self.store.identity_members(identity_id)) | in_window
        report = self.store.forget(identity_id, in_window)       # durable first: the person is gone
        dropped = self._drop_from_window(members)
        if self.metrics:
            for kind, n in report.removed.items():
                if n:
                    self.metrics.forgotten.labels(kind=kind).inc(n)
            self._update_gauges()
        if report.found or dropped:
            log.info("identity forgotten", extra={"kv": {"identity": identity_id, "window": dropped,
                                                         **{k: v for k, v in report.removed.items() if v}}})
        return {"identity_id": identity_id, "found": report.found or dropped > 0, "removed": report.removed,
                "window": dropped}

    def _drop_from_window(self, ids: set[str]) -> int:
        """Take tracklets out of the live window as if they had never arrived; returns how many.

        NN-CCTA's window is rebuilt from the remaining tracklets (its answer equals the batch
        answer over what it holds, so this is the state that never saw them); links among the
        others that this changes are retracted or added in the store. The linker forgets them."""
        ids = {t for t in ids if t in self.linker.metas} | {m.tracklet_id for m in self.assoc.tracklets()
                                                             if m.tracklet_id in ids}
        if not ids:
            return 0
        acfg = self.config.associator
        before = {l.key: l for l in self.assoc.links() + self.assoc.relinks()}
        rebuilt = IncrementalAssociator(self.prior, acfg.association, acfg.window)
        for m in sorted((m for m in self.assoc.tracklets() if m.tracklet_id not in ids),
                        key=lambda m: (m.t_end_s, m.tracklet_id)):
            rebuilt.add(m)
        self.assoc = rebuilt
        after = {l.key: l for l in rebuilt.links() + rebuilt.relinks()}
        gone = [k for k in before if k not in after and not set(k) & ids]
        if gone:
            self.store.retract_links(gone)
        fresh = [l for k, l in after.items() if k not in before]
        if fresh:
            self.store.upsert_links(_link_row(l, "provisional", self.model_version) for l in fresh)
        changed: dict = {}
        for tid in ids:
            changed.update(self.linker.remove(tid))
        self._write_identities(t for t in changed if t not in ids)
        return len(ids)

    def train_request_due(self, now_s: float) -> str | None:
        return self.policy.due(now_s)

    # ------------------------------------------------------------------ internals
    def _meta(self, t: Tracklet) -> TrackletMeta:
        return meta_of(t, self.model_version)

    def _linker_add(self, meta: TrackletMeta, evicted) -> None:
        for tid in evicted:
            self.linker.remove(tid)
        if meta.tracklet_id not in evicted:
            self.linker.add(meta)            # its own identity until a shown link joins it to others
            self._write_identities([meta.tracklet_id])

    def _reembedded(self, t: Tracklet) -> Tracklet | None:
        crops = t.crops_jpeg or tuple(self.store.crops(t.tracklet_id))
        if self.embed_crops is None or not crops:
            log.warning("tracklet of another model version and no way to re-embed it; not associated",
                        extra={"kv": {"tracklet": t.tracklet_id, "version": t.model_version,
                                      "window_version": self.model_version}})
            return None
        emb, version = self.embed_crops(crops_to_embed(crops, self.config.model.crops_per_tracklet))
        if emb is None:
            return None
        return dataclasses.replace(t, embedding=emb, model_version=version)

    def _apply(self, changes) -> None:
        removed = [l.key for l in changes.removed_links + changes.removed_relinks]
        if removed:
            self.store.retract_links(removed)
        added = list(changes.added_links) + list(changes.added_relinks)
        if added:
            self.store.upsert_links(_link_row(l, "provisional", self.model_version) for l in added)
        self.policy.new_pairs += len(changes.added_links)
        if self.metrics:
            self._update_gauges()

    def _write_identities(self, tracklet_ids) -> None:
        book = self.linker.identities()
        mapping = {t: self.ids.persistent(book[t]) for t in tracklet_ids if t in book}
        if mapping:
            self.store.set_identities(mapping)

    def candidates(self, tracklet_id: str, k: int = 10) -> dict:
        """Other cameras' visits ranked for one tracklet, with D, R, dt vs the pair's transfer time,
        the prior's source and a confidence (``associate.candidates``); identity ids are persistent.
        Raises AssociationError when the tracklet is not in the live window."""
        rows = self.linker.candidates(tracklet_id, k)
        ids = self.identities()
        for row in rows:
            row["identity_id"] = ids.get(row["tracklet_ids"][0])
        meta = self.linker.metas[tracklet_id]
        return {"tracklet_id": tracklet_id, "camera_id": meta.camera_id, "identity_id": ids.get(tracklet_id),
                "model_version": self.model_version, "candidates": rows}

    def identities(self) -> dict[str, int]:
        """Persistent identity ids of the window's tracklets (chains of links shown to users)."""
        return self.ids.translate(self.linker.identities())

    def _update_gauges(self) -> None:
        m = self.metrics
        per_cam: dict[str, int] = {}
        for meta in self.assoc.tracklets():
            per_cam[meta.camera_id] = per_cam.get(meta.camera_id, 0) + 1
        for cam in self.cameras:
            m.window_tracklets.labels(camera=cam).set(per_cam.get(cam, 0))
        pairs: dict[str, list[float]] = {}
        for link in self.assoc.links():
            pairs.setdefault(f"{link.camera_a}-{link.camera_b}", []).append(link.feature_distance)
        for pair, dists in pairs.items():
            m.accepted_pairs.labels(pair=pair).set(len(dists))
            m.accepted_mean_distance.labels(pair=pair).set(float(np.mean(dists)))
        m.identities.set(len(set(self.linker.identities().values())))
