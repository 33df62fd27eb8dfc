"""The live associator: rolling per-camera windows in event time, updated per arriving tracklet.

``IncrementalAssociator.add`` inserts one tracklet, evicts what fell out of the window, updates
only what the arrival can change (see ``link_core``) and returns what changed. After any
sequence of arrivals its links, re-links and identity partition equal ``batch_associate`` run on
the tracklets currently in the window, whatever the arrival order (tests hold this).

Window policy (event time = tracklet timestamps, never wall time): the newest event time is the
largest t_end_s seen; a tracklet is evicted once its t_end_s is older than newest - window_s,
and the oldest (by t_end_s, then id) go first when more than max_tracklets are held. An arrival
whose t_end_s is older than newest - allowed_lateness_s (or outside the window) is rejected
and reported, not raised: lateness is a normal event for a daemon to count.

Finality: a link is final once now_event_s - allowed_lateness_s has passed the later end of
its two tracklets by the prior's horizon (largest t_ij + 3 effective sigma). That is the
policy for "no future tracklet can still change its nearest neighbours". k-means is global per
camera pair, so a later arrival can in rare cases still move a final link out of the accepted
cluster; ``links()`` then follows the batch answer and ``final_retractions`` counts it.

Model versions: embeddings of different versions are never compared. ``add`` refuses a
tracklet of another version; ``reembed`` swaps every feature of the window at once.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
from dataclasses import dataclass, field

import numpy as np

from ..config.associator import Association, Window
from .identities import IdentityBook
from .link_core import IndexFactory, LinkCore, default_index_factory
from .records import AssociatedPair, AssociationError, Relink, TrackletMeta
from .str_prior import TransferPrior

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Changes:
    """What one call changed. ``identity_changes``: tracklet id -> (old id, new id); None = absent."""

    accepted: bool = True
    reason: str = ""
    added_links: tuple[AssociatedPair, ...] = ()
    removed_links: tuple[AssociatedPair, ...] = ()
    added_relinks: tuple[Relink, ...] = ()
    removed_relinks: tuple[Relink, ...] = ()
    evicted: tuple[str, ...] = ()
    identity_changes: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Finalized:
    pairs: tuple[AssociatedPair, ...]
    relinks: tuple[Relink, ...]


class IncrementalAssociator:
    def __init__(self, prior: TransferPrior, association: Association, window: Window,
                 index_factory: IndexFactory = default_index_factory):
        self.prior, self.association, self.window = prior, association, window
        self._factory = index_factory
        self._core: LinkCore | None = None
        self._book = IdentityBook()
        self._expiry: list[tuple[float, str]] = []
        self._newest_end_s = -np.inf
        self._version: int | None = None
        self._final: set[tuple[str, str]] = set()
        self.final_retractions = 0

    # --- read side ----------------------------------------------------------------------
    @property
    def model_version(self) -> int | None:
        return self._version

    def tracklets(self) -> list[TrackletMeta]:
        return [] if self._core is None else list(self._core.metas.values())

    def links(self) -> list[AssociatedPair]:
        return [] if self._core is None else self._core.links()

    def relinks(self) -> list[Relink]:
        return [] if self._core is None else sorted(self._core.relinks.links.values())

    def identities(self) -> dict[str, int]:
        return self._book.identities()

    def is_final(self, key: tuple[str, str]) -> bool:
        return key in self._final

    # --- write side ---------------------------------------------------------------------
    def add(self, meta: TrackletMeta) -> Changes:
        if self._version is not None and meta.model_version != self._version:
            raise AssociationError(
                f"tracklet {meta.tracklet_id!r} has model_version {meta.model_version}, the window holds "
                f"version {self._version}; re-embed the window (reembed) before mixing versions")
        oldest_ok = self._newest_end_s - min(self.window.allowed_lateness_s, self.window.window_s)
        if meta.t_end_s < oldest_ok:
            return Changes(accepted=False, reason=f"late: t_end_s={meta.t_end_s} < {oldest_ok}")
        if self._core is None:
            core = LinkCore(self.prior, self.association, meta.feature.shape[0], self._factory)
            core.insert(meta)                      # raises before anything is kept
            self._core, self._version = core, meta.model_version
        else:
            self._core.insert(meta)
        heapq.heappush(self._expiry, (meta.t_end_s, meta.tracklet_id))
        self._newest_end_s = max(self._newest_end_s, meta.t_end_s)
        evicted = self._evict()
        return self._settle(added_nodes=[meta.tracklet_id], removed_nodes=evicted)

    def _evict(self) -> list[str]:
        horizon = self._newest_end_s - self.window.window_s
        out = []
        while self._expiry and (self._expiry[0][0] < horizon or len(self._core.metas) > self.window.max_tracklets):
            _, tid = heapq.heappop(self._expiry)
            self._core.remove(tid)
            out.append(tid)
        return out

    def _settle(self, added_nodes, removed_nodes) -> Changes:
        added, removed, r_added, r_removed = self._core.refresh()
        for link in removed + r_removed:
            if link.key in self._final:
                self._final.discard(link.key)
                if all(t in self._core.metas for t in link.key):
                    self.final_retractions += 1
                    log.warning("final link retracted", extra={"kv": {"a": link.key[0], "b": link.key[1]}})
        ident = self._book.apply(
            added_nodes=added_nodes, removed_nodes=removed_nodes,
            added_edges=[p.key for p in added + r_added],
            removed_edges=[p.key for p in removed + r_removed])
        return Changes(True, "", tuple(added), tuple(removed), tuple(r_added), tuple(r_removed),
                       tuple(removed_nodes), ident)

    def finalize(self, now_event_s: float) -> Finalized:
        """Mark as final the links whose horizon has passed; return the newly final ones."""
        if self._core is None:
            return Finalized((), ())
        cutoff = now_event_s - self.window.allowed_lateness_s - self.prior.horizon_s(self.window.window_s)
        metas = self._core.metas
        fresh: list = []
        for link in self.links() + self.relinks():
            if link.key not in self._final and max(metas[t].t_end_s for t in link.key) <= cutoff:
                self._final.add(link.key)
                fresh.append(link)
        return Finalized(tuple(p for p in fresh if isinstance(p, AssociatedPair)),
                         tuple(p for p in fresh if isinstance(p, Relink)))

    def reembed(self, new_features: dict[str, np.ndarray], version: int) -> Changes:
        """Swap every feature of the window to model ``version`` at once.

        All-or-nothing: the new state is built aside and swapped in only when complete; any
        invalid input raises before anything changes. Identities keep their ids where their
        links survive (the book sees only the link differences).
        """
        metas = self.tracklets()
        have, got = {m.tracklet_id for m in metas}, set(new_features)
        if have != got:
            raise AssociationError(
                f"reembed must cover exactly the window: missing {sorted(have - got)[:5]}, "
                f"unknown {sorted(got - have)[:5]}")
        fresh = [dataclasses.replace(m, feature=new_features[m.tracklet_id], model_version=version)
                 for m in sorted(metas, key=lambda m: (m.t_end_s, m.tracklet_id))]
        if not fresh:
            self._version = version
            return Changes()
        core = LinkCore(self.prior, self.association, fresh[0].feature.shape[0], self._factory)
        for m in fresh:
            core.insert(m)
        core.refresh()
        old_links = {p.key: p for p in self.links()} | {r.key: r for r in self.relinks()}
        new_links = {p.key: p for p in core.links()} | {r.key: r for r in core.relinks.links.values()}
        removed = [p for k, p in old_links.items() if k not in new_links]
        added = [p for k, p in new_links.items() if k not in old_links]
        self._core, self._version = core, version
        self._final &= new_links.keys()
        ident = self._book.apply(added_edges=[p.key for p in added], removed_edges=[p.key for p in removed])
        return Changes(True, "", tuple(p for p in added if isinstance(p, AssociatedPair)),
                       tuple(p for p in removed if isinstance(p, AssociatedPair)),
                       tuple(p for p in added if isinstance(p, Relink)),
                       tuple(p for p in removed if isinstance(p, Relink)), (), ident)
