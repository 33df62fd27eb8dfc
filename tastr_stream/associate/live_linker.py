"""The user-facing linker, live: which links users see, when, and which identities they make.

Every ``update(now_event_s)`` re-decides the links (``trusted.trusted_links``) over the recent
region of the window (the tracklets that ended within two transfer horizons), honouring the
links already final (those reaching out of the region too: they hold their slots). A decided
link is *shown* only when its context is complete:
- a cross link u -> v once every visit that could have followed u by time has had its chance to
  arrive (now >= exit of u + the pair's mean transfer time + the spreads at which R falls to
  ``min_r``, 2.45 for 0.05);
- a fragment link once the largest fragment gap has passed after the earlier fragment.
Shown links are provisional until their horizon passes (3 spreads, plus the fragment gap), then
final and frozen. A shown link that the next decision drops is *retracted* (counted; rare by
construction: it needs a better rival to arrive after the context was complete). Decided cross
links whose context is complete and whose confidence is at least ``learn_confidence`` (judged
without the route-use factor, which they teach) teach the
transfer model (``transfer.TransferModel``), shown or not.

Identities are chains of shown links, numbered stably by an :class:`IdentityBook`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..config.associator import Trust
from .features import distances_to
from .identities import IdentityBook
from .negatives import NegativeDistances
from .records import AssociationError, TrackletMeta
from .transfer import TransferModel
from .zones import ZoneModel
from .candidates import rank_candidates
from .trusted import TrustedLink, Visit, posterior_in_use, trusted_links

MAX_NEGATIVES = 20_000


@dataclass(frozen=True)
class LinkUpdate:
    shown: tuple[TrustedLink, ...] = ()          # newly shown (provisional) or explanation refreshed
    retracted: tuple[TrustedLink, ...] = ()
    finalized: tuple[TrustedLink, ...] = ()
    identity_changes: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    learned: int = 0                             # links the transfer model and zones learned from


class LiveLinker:
    def __init__(self, transfer: TransferModel, cfg: Trust, zones: ZoneModel | None = None):
        self.transfer, self.cfg = transfer, cfg
        self.zones = zones if zones is not None else ZoneModel(cfg.zones)
        self.metas: dict[str, TrackletMeta] = {}
        self._neg: deque[float] = deque(maxlen=MAX_NEGATIVES)
        self._longest_s = 0.0
        self._shown: dict[tuple[str, str], TrustedLink] = {}
        self._final: set[tuple[str, str]] = set()
        self._learned: set[tuple[str, str]] = set()
        self._learned_until_s = -np.inf     # links final before this were learned by an earlier run
        self._book = IdentityBook()
        self.shown_total = 0
        self.retracted_total = 0
        self.waiting = 0            # decided, confident links still waiting for their context

    # ------------------------------------------------------------------ read
    def links(self) -> list[TrustedLink]:
        return sorted(self._shown.values())

    def is_final(self, key: tuple[str, str]) -> bool:
        return key in self._final

    def identities(self) -> dict[str, int]:
        return self._book.identities()

    def negatives(self) -> NegativeDistances:
        return NegativeDistances(np.fromiter(self._neg, dtype=np.float64))

    def visits_around(self, tracklet_id: str) -> list[Visit]:
        """The visits within two transfer horizons of one tracklet, as the linker forms them."""
        q = self.metas.get(tracklet_id)
        if q is None:
            raise AssociationError(f"tracklet {tracklet_id!r} is not in the live window")
        reach = 2.0 * (self.transfer.horizon_s() + self.cfg.relink_max_gap_s)
        near = [m for m in self.metas.values() if m.t_end_s >= q.t_start_s - reach and m.t_start_s <= q.t_end_s + reach]
        ids = {m.tracklet_id for m in near}
        fixed = [l for l in self._shown.values() if l.tracklet_a in ids and l.tracklet_b in ids]
        return trusted_links(near, self.transfer, self.negatives(), self.cfg, fixed, (), self.zones)[1]

    def candidates(self, tracklet_id: str, k: int = 10) -> list[dict]:
        """Other cameras' visits ranked for ``tracklet_id`` (``candidates.rank_candidates``)."""
        return rank_candidates(tracklet_id, self.visits_around(tracklet_id), self.transfer, self.negatives(),
                               self.identities(), k, self.zones)

    # ------------------------------------------------------------------ window
    def add(self, meta: TrackletMeta) -> None:
        if meta.tracklet_id in self.metas:
            raise AssociationError(f"duplicate tracklet id {meta.tracklet_id!r}")
        # Tracklets arrive roughly in order of their end: the ones that can overlap this one are
        # among the newest arrivals, so walk back from the newest (dicts keep insertion order)
        # until ends are older than this one's start by the longest tracklet seen.
        overlapping = []
        for m in reversed(self.metas.values()):
            if m.t_end_s < meta.t_start_s - self._longest_s:
                break
            if min(m.t_end_s, meta.t_end_s) > max(m.t_start_s, meta.t_start_s):
                overlapping.append(m)
        self._longest_s = max(self._longest_s, meta.t_end_s - meta.t_start_s)
        if overlapping:
            self._neg.extend(distances_to(meta.feature, np.stack([m.feature for m in overlapping])).tolist())
        self.metas[meta.tracklet_id] = meta
        self._book.apply(added_nodes=[meta.tracklet_id])

    def remove(self, tracklet_id: str) -> dict[str, tuple[int | None, int | None]]:
        """Forget an evicted tracklet; its links leave the window (not a retraction)."""
        if self.metas.pop(tracklet_id, None) is None:
            return {}
        gone = [k for k in self._shown if tracklet_id in k]
        for k in gone:
            del self._shown[k]
            self._final.discard(k)
        return self._book.apply(removed_nodes=[tracklet_id], removed_edges=gone)

    def reembed(self, metas: list[TrackletMeta]) -> None:
        """A new model version: new features for the same window; negatives are re-measured."""
        if {m.tracklet_id for m in metas} != set(self.metas):
            raise AssociationError("reembed must cover exactly the linker's window")
        self.metas = {m.tracklet_id: m for m in metas}
        self._neg.clear()
        ordered = sorted(metas, key=lambda m: m.t_start_s)
        for i, m in enumerate(ordered):
            later = [o for o in ordered[i + 1:] if o.t_start_s < m.t_end_s and o.t_end_s > m.t_start_s]
            if later:
                self._neg.extend(distances_to(m.feature, np.stack([o.feature for o in later])).tolist())

    def restore(self, shown: list[tuple[TrustedLink, bool]], now_event_s: float) -> None:
        """After a restart: the links users saw (and which were final) come back as they were,
        so identities keep their members; links that were already final taught the transfer model
        then, and are not learned twice."""
        edges = []
        for link, final in shown:
            if link.tracklet_a in self.metas and link.tracklet_b in self.metas:
                self._shown[link.key] = link
                edges.append(link.key)
                if final:
                    self._final.add(link.key)
        self._learned_until_s = now_event_s
        self._book.apply(added_edges=edges)

    # ------------------------------------------------------------------ decisions
    def _ready_s(self, link: TrustedLink) -> float:
        end_a = self.metas[link.tracklet_a].t_end_s
        if link.kind == "relink":
            return end_a + self.cfg.relink_max_gap_s
        # Every rival that passes R >= min_r enters by mean + z spreads after the exit.
        return end_a + link.transfer_mean_s + float(np.sqrt(2.0 * np.log(1.0 / self.cfg.min_r))) * link.transfer_late_s

    def _final_s(self, link: TrustedLink) -> float:
        end_a = self.metas[link.tracklet_a].t_end_s
        if link.kind == "relink":
            return end_a + 2.0 * self.cfg.relink_max_gap_s
        return max(end_a + link.transfer_mean_s + 3.0 * link.transfer_late_s,
                   self.metas[link.tracklet_b].t_end_s + self.cfg.relink_max_gap_s)

    def update(self, now_event_s: float) -> LinkUpdate:
        if not self.cfg.enabled or not self.metas:
            return LinkUpdate()
        region_from = now_event_s - 2.0 * (self.transfer.horizon_s() + self.cfg.relink_max_gap_s)
        region = [m for m in self.metas.values() if m.t_end_s >= region_from]
        in_region = {m.tracklet_id for m in region}
        # A final link reaching back out of the region still holds its tracklet's successor or
        # predecessor slot (left out, the tracklet would take a second one).
        fixed = [l for k, l in self._shown.items() if k in self._final and set(k) & in_region]
        preferred = [l for k, l in self._shown.items() if k not in self._final and set(k) <= in_region]
        negatives = self.negatives()
        decided, _ = trusted_links(region, self.transfer, negatives, self.cfg, fixed, preferred, self.zones)
        decided_by_key = {l.key: l for l in decided}
        # What the confidence is now (the posterior, or the rival confidence on a cold start) sets the floor.
        floor = self.cfg.min_confidence if posterior_in_use(self.cfg, negatives) else self.cfg.min_rival_confidence
        keep_at = 0.5 * floor                           # hysteresis: a shown link is not dropped for a wobble
        shown, retracted, finalized = [], [], []
        for key, link in list(self._shown.items()):
            if key in self._final or not set(key) <= in_region:
                continue
            now = decided_by_key.get(key)
            if now is None or now.confidence < keep_at:
                del self._shown[key]
                retracted.append(link)
            elif now != link:
                self._shown[key] = now
                shown.append(now)
        self.waiting = 0
        for key, link in decided_by_key.items():
            if key in self._shown or key in self._final or link.confidence < floor:
                continue
            if now_event_s >= self._ready_s(link):
                self._shown[key] = link
                shown.append(link)
                self.shown_total += 1
            else:
                self.waiting += 1
        learned = 0
        for key, link in decided_by_key.items():
            ready_s = self._ready_s(link) if link.kind == "cross" else np.inf
            if key in self._learned or now_event_s < ready_s or ready_s <= self._learned_until_s:
                continue
            self._learned.add(key)
            # Judged as if the route were as used as any: a route that has learned no links yet
            # would otherwise never be confident enough to learn its first ones.
            if link.rivals_say / max(link.route, 1e-12) >= self.cfg.learn_confidence:
                learned += 1
                self.transfer.observe(link.camera_a, link.camera_b, link.dt_s)
                self.zones.observe(link.camera_a, link.exit_side, link.camera_b, link.enter_side)
        for key, link in self._shown.items():
            if key not in self._final and now_event_s >= self._final_s(link):
                self._final.add(key)
                finalized.append(link)
        self._learned = {k for k in self._learned if set(k) <= self.metas.keys()}
        self.retracted_total += len(retracted)
        changes = self._book.apply(added_edges=[l.key for l in shown if l.key in self._shown],
                                   removed_edges=[l.key for l in retracted])
        return LinkUpdate(tuple(shown), tuple(retracted), tuple(finalized), changes, learned)
