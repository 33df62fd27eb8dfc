"""The incremental heart of NN-CCTA: per-camera indexes, each tracklet's top-1 per other camera,
and the per-pair candidate sets, kept equal to what the batch reference would compute.

Invariant: ``best[(i, b)]`` is i's exact top-1 under D_joint among the current members of
camera b (ties: smallest id). An arrival n in camera a can only *improve* a member's top-1,
so for every other camera b it needs (1) n's own top-1 in b and (2) the members of b whose
current top-1 in a it beats (one pruned, exact index query each). A departure e only forces a
re-search for the members whose top-1 was e. A pair (i, j) is a candidate when each is the
other's top-1; only the keys around the changed top-1s are re-checked, and only pairs whose
candidate set changed rerun their k-means (``PairState.refresh``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..config.associator import Association
from .faiss_index import BruteForceIndex, CameraIndex
from .pair_state import PairState
from .records import AssociatedPair, AssociationError, Match, Relink, TrackletMeta
from .relink_state import RelinkState
from .str_prior import TransferPrior

IndexFactory = Callable[[int, str], BruteForceIndex]
Key = tuple[str, str, str, str]     # (camera u, tracklet u, camera v, tracklet v)


def default_index_factory(emb_dim: int, metric: str) -> BruteForceIndex:
    return CameraIndex(emb_dim, metric)


class LinkCore:
    def __init__(self, prior: TransferPrior, cfg: Association, emb_dim: int,
                 index_factory: IndexFactory = default_index_factory):
        prior.check_matches(cfg.str_prior)
        self.prior, self.cfg, self.emb_dim = prior, cfg, emb_dim
        self._factory = index_factory
        self.metas: dict[str, TrackletMeta] = {}
        self._indexes: dict[str, BruteForceIndex] = {}
        self._best: dict[tuple[str, str], Match] = {}
        self._best_rev: dict[str, set[str]] = {}
        self._limits: dict[tuple[str, str], np.ndarray] = {}
        self._pairs: dict[tuple[str, str], PairState] = {}
        self.relinks = RelinkState(cfg)
        self._keys: set[Key] = set()
        self._relink_touched: set[str] = set()

    # --- helpers ------------------------------------------------------------------------
    def index(self, camera: str) -> BruteForceIndex:
        if camera not in self._indexes:
            self._indexes[camera] = self._factory(self.emb_dim, self.cfg.distance)
        return self._indexes[camera]

    def _limit(self, camera: str, other: str) -> np.ndarray:
        """Current best D_joint toward ``other`` of each slot of ``camera`` (inf: none)."""
        cap = self.index(camera).capacity
        arr = self._limits.get((camera, other))
        if arr is None or arr.shape[0] < cap:
            grown = np.full(cap, np.inf)
            if arr is not None:
                grown[: arr.shape[0]] = arr
            self._limits[(camera, other)] = arr = grown
        return arr

    def _r(self, meta: TrackletMeta, camera: str) -> np.ndarray:
        ts, te, _ = self.index(camera).times()
        return self.prior.r_between(meta.t_start_s, meta.t_end_s, ts, te, meta.camera_id, camera)

    def _set_best(self, node: str, other: str, match: Match | None) -> None:
        meta = self.metas[node]
        old = self._best.pop((node, other), None)
        if old is not None:
            self._best_rev[old.tracklet_id].discard(node)
            self._keys.add((meta.camera_id, node, other, old.tracklet_id))
        idx = self.index(meta.camera_id)
        if node in idx:
            self._limit(meta.camera_id, other)[idx.slot_of(node)] = np.inf if match is None else match.joint_distance
        if match is not None:
            self._best[(node, other)] = match
            self._best_rev.setdefault(match.tracklet_id, set()).add(node)
            self._keys.add((meta.camera_id, node, other, match.tracklet_id))

    def _pair(self, ca: str, cb: str) -> PairState:
        if (ca, cb) not in self._pairs:
            self._pairs[(ca, cb)] = PairState(ca, cb, self.cfg)
        return self._pairs[(ca, cb)]

    # --- arrivals and departures -------------------------------------------------------
    def insert(self, meta: TrackletMeta) -> None:
        n, a = meta.tracklet_id, meta.camera_id
        if n in self.metas:
            raise AssociationError(f"duplicate tracklet id {n!r}")
        if meta.feature.shape != (self.emb_dim,):
            raise AssociationError(f"tracklet {n!r}: feature shape {meta.feature.shape}, expected ({self.emb_dim},)")
        if a not in self.prior.cameras:
            raise AssociationError(f"tracklet {n!r}: unknown camera {a!r}; the prior knows {self.prior.cameras}")
        self.metas[n] = meta
        self._relink_touched |= self.relinks.on_add(meta, self.index(a))
        self.index(a).add(n, meta.t_start_s, meta.t_end_s, meta.feature)
        for b in sorted(self._indexes):
            if b == a or len(self._indexes[b]) == 0:
                continue
            idx_b, r = self._indexes[b], self._r(meta, b)
            for h in idx_b.within_joint(meta.feature, r, self._limit(b, a)):     # who now prefers n
                cur = self._best.get((h.tracklet_id, a))
                if cur is None or (h.joint_distance, n) < (cur.joint_distance, cur.tracklet_id):
                    self._set_best(h.tracklet_id, a, Match(n, h.feature_distance, h.joint_distance, h.r))
            self._set_best(n, b, idx_b.top1_joint(meta.feature, r))               # n's own top-1

    def remove(self, tracklet_id: str) -> TrackletMeta:
        meta = self.metas.get(tracklet_id)
        if meta is None:
            raise AssociationError(f"tracklet {tracklet_id!r} is not in the window")
        a = meta.camera_id
        for b in list(self._indexes):
            if b != a:
                self._set_best(tracklet_id, b, None)
        self.index(a).remove(tracklet_id)
        for node in sorted(self._best_rev.pop(tracklet_id, set())):
            self._keys.add((self.metas[node].camera_id, node, a, tracklet_id))
            self._best.pop((node, a), None)
            other = self.metas[node]
            self._set_best(node, a, self.index(a).top1_joint(other.feature, self._r(other, a)))
        self._relink_touched |= self.relinks.on_remove(meta, self.index(a), self.metas)
        del self.metas[tracklet_id]
        return meta

    # --- decisions ----------------------------------------------------------------------
    def refresh(self) -> tuple[list[AssociatedPair], list[AssociatedPair], list[Relink], list[Relink]]:
        """Re-check touched candidate keys, rerun k-means of changed pairs; return the link diffs."""
        touched_pairs: set[tuple[str, str]] = set()
        dropped: dict[tuple[str, str], AssociatedPair] = {}
        for cu, u, cv, v in self._keys:
            (ca, i), (cb, j) = sorted(((cu, u), (cv, v)))
            pair = self._pair(ca, cb)
            touched_pairs.add((ca, cb))
            m_ij, m_ji = self._best.get((i, cb)), self._best.get((j, ca))
            if m_ij is not None and m_ji is not None and m_ij.tracklet_id == j and m_ji.tracklet_id == i:
                pair.set_candidate(AssociatedPair(i, j, ca, cb, m_ij.feature_distance, m_ij.joint_distance, m_ij.r))
            else:
                gone = pair.drop_candidate((i, j))
                if gone is not None:
                    dropped[gone.key] = gone
        self._keys.clear()
        added, removed = [], []
        for key in sorted(touched_pairs):
            add, rem = self._pairs[key].refresh(dropped)
            added += add
            removed += rem
        r_add, r_rem = self.relinks.refresh(self._relink_touched)
        self._relink_touched = set()
        return added, removed, r_add, r_rem

    def links(self) -> list[AssociatedPair]:
        return sorted(p for state in self._pairs.values() for p in state.accepted.values())

    def candidates(self) -> list[AssociatedPair]:
        return sorted(p for state in self._pairs.values() for p in state.candidates.values())
