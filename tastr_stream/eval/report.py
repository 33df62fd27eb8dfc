"""The end-of-run report of a network on a synthetic world: what was found, and how right it was.

Reads the associator's store (read-only), labels every stored tracklet with the world's ground
truth (:mod:`gt_match`), and scores the cross-camera pairs implied by the global identities.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..store import Store
from .association import evaluate_clusters, evaluate_pairs
from .gt_match import label_tracklets


@dataclass(frozen=True)
class NetworkReport:
    tracklets: int
    labelled_tracklets: int
    identities: int
    cross_camera_identities: int
    true_people_seen: int
    pair_precision: float
    pair_recall: float
    pairs_predicted: int
    cluster_precision: float
    cluster_recall: float
    model_version: int

    def lines(self) -> list[str]:
        return [
            f"tracklets stored           {self.tracklets} ({self.labelled_tracklets} matched to a ground-truth person)",
            f"identities found           {self.identities} ({self.cross_camera_identities} seen in 2+ cameras); "
            f"true people seen: {self.true_people_seen}",
            f"cross-camera pairs         precision {self.pair_precision:.3f}  recall {self.pair_recall:.3f}  "
            f"({self.pairs_predicted} pairs from identities)",
            f"identity clustering        precision {self.cluster_precision:.3f}  recall {self.cluster_recall:.3f}",
            f"model version              {self.model_version}",
        ]


def network_report(store_dir, world) -> NetworkReport:
    with Store.open(store_dir, read_only=True) as store:
        tracklets = store.tracklets_between(-1e18, 1e18)
        assignment = {t.tracklet_id: store.identity_of(t.tracklet_id) for t in tracklets}
        version = int(store.kv_get("model_version", 0) or 0)
    assignment = {k: v for k, v in assignment.items() if v is not None}
    metas = label_tracklets(world, tracklets)
    camera = {t.tracklet_id: t.camera_id for t in tracklets}
    members: dict[int, list[str]] = {}
    for tid, ident in assignment.items():
        members.setdefault(ident, []).append(tid)
    pairs = [(a, b) for ids in members.values() for a, b in itertools.combinations(sorted(ids), 2)
             if camera[a] != camera[b]]
    pm = evaluate_pairs(pairs, metas, adjacent_only=True)
    cm = evaluate_clusters(assignment, metas, cross_camera_only=True)
    return NetworkReport(
        tracklets=len(tracklets), labelled_tracklets=sum(m.pid >= 0 for m in metas),
        identities=len(members),
        cross_camera_identities=sum(len({camera[t] for t in ids}) > 1 for ids in members.values()),
        true_people_seen=len({m.pid for m in metas if m.pid >= 0}),
        pair_precision=pm.precision, pair_recall=pm.recall, pairs_predicted=len(pairs),
        cluster_precision=cm.precision, cluster_recall=cm.recall, model_version=version)
