"""Incremental within-camera re-linking of fragmented tracks.

Same rule as ``nn_ccta.relink_within_camera``: i -> j when 0 <= start_j - end_i <=
relink_max_gap_s, D(i, j) < relink_max_distance, j is i's best successor and i is j's best
predecessor (smallest D, ties to the smallest id). Each tracklet keeps its best successor and
predecessor; an arrival can only improve those of the tracklets within the gap around it, and
a departure forces a re-search only for the tracklets that had it as their best.
"""

from __future__ import annotations

import numpy as np

from ..config.associator import Association
from .faiss_index import BruteForceIndex
from .records import Relink, TrackletMeta

Best = tuple[float, str, float]     # (feature distance, other tracklet id, gap_s)


class RelinkState:
    def __init__(self, cfg: Association):
        self._cfg = cfg
        self._succ: dict[str, Best] = {}
        self._pred: dict[str, Best] = {}
        self._succ_rev: dict[str, set[str]] = {}
        self._pred_rev: dict[str, set[str]] = {}
        self._links: dict[tuple[str, str], Relink] = {}
        self._by_node: dict[str, set[tuple[str, str]]] = {}
        self._cam_of: dict[str, str] = {}

    @property
    def links(self) -> dict[tuple[str, str], Relink]:
        return dict(self._links)

    def _neighbours(self, meta: TrackletMeta, index: BruteForceIndex, after: bool) -> list[Best]:
        """Valid successors (``after``) or predecessors of ``meta`` among the index members."""
        ts, te, alive = index.times()
        gap = ts - meta.t_end_s if after else meta.t_start_s - te
        slots = np.flatnonzero(alive & (gap >= 0) & (gap <= self._cfg.relink_max_gap_s))
        if slots.size == 0:
            return []
        d, _ = index.exact(meta.feature, slots, np.ones(index.capacity))
        ok = d < self._cfg.relink_max_distance
        return [(float(dd), index.id_at(s), float(gap[s])) for dd, s in zip(d[ok], slots[ok])
                if index.id_at(s) != meta.tracklet_id]

    def _set(self, table: dict, rev: dict, node: str, best: Best | None) -> None:
        old = table.pop(node, None)
        if old is not None:
            rev[old[1]].discard(node)
            if not rev[old[1]]:
                del rev[old[1]]
        if best is not None:
            table[node] = best
            rev.setdefault(best[1], set()).add(node)

    def on_add(self, meta: TrackletMeta, index: BruteForceIndex) -> set[str]:
        """Update bests for a new tracklet (``index`` holds its camera, without it); return touched ids."""
        if not self._cfg.relink_within_camera:
            return set()
        n = meta.tracklet_id
        self._cam_of[n] = meta.camera_id
        touched = {n}
        succs, preds = self._neighbours(meta, index, True), self._neighbours(meta, index, False)
        self._set(self._succ, self._succ_rev, n, min(succs, default=None))
        self._set(self._pred, self._pred_rev, n, min(preds, default=None))
        for table, rev, others in ((self._pred, self._pred_rev, succs), (self._succ, self._succ_rev, preds)):
            for d, other, gap in others:
                cur = table.get(other)
                if cur is None or (d, n) < cur[:2]:
                    if cur is not None:
                        touched.add(cur[1])
                    self._set(table, rev, other, (d, n, gap))
                    touched.add(other)
        return touched

    def on_remove(self, meta: TrackletMeta, index: BruteForceIndex, metas: dict[str, TrackletMeta]) -> set[str]:
        """Forget a departed tracklet (``index`` no longer holds it); re-search who pointed at it."""
        if not self._cfg.relink_within_camera:
            return set()
        e = meta.tracklet_id
        self._cam_of.pop(e, None)
        touched = {e}
        for table, rev, after in ((self._succ, self._succ_rev, True), (self._pred, self._pred_rev, False)):
            self._set(table, rev, e, None)
            for node in sorted(rev.pop(e, set())):
                table.pop(node, None)
                self._set(table, rev, node, min(self._neighbours(metas[node], index, after), default=None))
                touched.add(node)
        return touched

    def refresh(self, touched: set[str]) -> tuple[list[Relink], list[Relink]]:
        """Recompute the mutual-best links around ``touched``; return (added, removed)."""
        want: dict[tuple[str, str], Relink] = {}
        stale: set[tuple[str, str]] = set()
        for u in touched:
            stale |= self._by_node.get(u, set())
            s = self._succ.get(u)
            if s is not None and self._pred.get(s[1], (None, None))[1] == u:
                want[(u, s[1])] = (s[0], s[2])
            p = self._pred.get(u)
            if p is not None and self._succ.get(p[1], (None, None))[1] == u:
                want[(p[1], u)] = (p[0], p[2])
        removed = [self._links[k] for k in stale if k not in want]
        added: list[Relink] = []
        for k in stale - want.keys():
            self._drop(k)
        for (before, after), (d, gap) in want.items():
            if (before, after) not in self._links:
                cam = self._cam_of.get(before, "")
                link = Relink(before, after, cam, gap, d)
                self._links[(before, after)] = link
                self._by_node.setdefault(before, set()).add((before, after))
                self._by_node.setdefault(after, set()).add((before, after))
                added.append(link)
        return added, removed

    def _drop(self, key: tuple[str, str]) -> None:
        self._links.pop(key, None)
        for node in key:
            keys = self._by_node.get(node)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_node[node]
