"""The end-of-run report of a network on a synthetic world: what was found, and how right it was.

Reads the associator's store (read-only), labels every stored tracklet with the world's ground
truth (:mod:`gt_match`) and scores what users were shown:
- identity pairs: the cross-camera tracklet pairs implied by the global identities (recall over
  consecutive camera visits of one person, what the spatio-temporal prior models);
- direct links: the cross-camera links shown to users (``identity_links``), same scoring;
- multi-camera IDF1 (:mod:`mtmc`) of the identities over every detection of every camera;
- the share of shown links later retracted, and the delay from the end of the earlier tracklet
  of a cross link to the moment the link became final (event time).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..store import Store
from .association import evaluate_clusters, evaluate_pairs
from .gt_match import label_tracklets
from .mtmc import multi_camera_idf1


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
    link_precision: float = math.nan
    link_recall: float = math.nan
    links_shown: int = 0
    links_retracted: int = 0
    idf1: float = math.nan
    idp: float = math.nan
    idr: float = math.nan
    final_delay_p50_s: float = math.nan
    final_delay_p90_s: float = math.nan

    @property
    def retracted_share(self) -> float:
        return self.links_retracted / self.links_shown if self.links_shown else math.nan

    def lines(self) -> list[str]:
        return [
            f"tracklets stored           {self.tracklets} ({self.labelled_tracklets} matched to a ground-truth person)",
            f"identities found           {self.identities} ({self.cross_camera_identities} seen in 2+ cameras); "
            f"true people seen: {self.true_people_seen}",
            f"cross-camera pairs         precision {self.pair_precision:.3f}  recall {self.pair_recall:.3f}  "
            f"({self.pairs_predicted} pairs from identities)",
            f"direct cross links         precision {self.link_precision:.3f}  recall {self.link_recall:.3f}  "
            f"({self.links_shown} links shown, {self.links_retracted} retracted: {self.retracted_share:.1%})",
            f"multi-camera IDF1          {self.idf1:.3f}  (IDP {self.idp:.3f}  IDR {self.idr:.3f})",
            f"exit to final link         median {self.final_delay_p50_s:.1f} s  p90 {self.final_delay_p90_s:.1f} s",
            f"identity clustering        precision {self.cluster_precision:.3f}  recall {self.cluster_recall:.3f}",
            f"model version              {self.model_version}",
        ]


def network_report(store_dir, world) -> NetworkReport:
    with Store.open(store_dir, read_only=True) as store:
        tracklets = store.tracklets_between(-1e18, 1e18)
        assignment = {t.tracklet_id: store.identity_of(t.tracklet_id) for t in tracklets}
        version = int(store.kv_get("model_version", 0) or 0)
        shown = store.identity_links(("provisional", "final", "retracted"))
    assignment = {k: v for k, v in assignment.items() if v is not None}
    metas = label_tracklets(world, tracklets)
    camera = {t.tracklet_id: t.camera_id for t in tracklets}
    end = {t.tracklet_id: t.t_end_s for t in tracklets}
    members: dict[int, list[str]] = {}
    for tid, ident in assignment.items():
        members.setdefault(ident, []).append(tid)
    pairs = [(a, b) for ids in members.values() for a, b in itertools.combinations(sorted(ids), 2)
             if camera[a] != camera[b]]
    pm = evaluate_pairs(pairs, metas, adjacent_only=True)
    cm = evaluate_clusters(assignment, metas, cross_camera_only=True)
    cross = [l for l in shown if l.kind == "cross" and l.a in camera and l.b in camera]
    lm = evaluate_pairs([l.pair for l in cross if l.status != "retracted"], metas, adjacent_only=True)
    delays = [l.final_at_event_s - min(end[l.a], end[l.b]) for l in cross
              if l.status == "final" and l.final_at_event_s is not None]
    mtmc = multi_camera_idf1(world, tracklets, assignment)
    return NetworkReport(
        tracklets=len(tracklets), labelled_tracklets=sum(m.pid >= 0 for m in metas),
        identities=len(members),
        cross_camera_identities=sum(len({camera[t] for t in ids}) > 1 for ids in members.values()),
        true_people_seen=len({m.pid for m in metas if m.pid >= 0}),
        pair_precision=pm.precision, pair_recall=pm.recall, pairs_predicted=len(pairs),
        cluster_precision=cm.precision, cluster_recall=cm.recall, model_version=version,
        link_precision=lm.precision, link_recall=lm.recall, links_shown=len(cross),
        links_retracted=sum(l.status == "retracted" for l in cross),
        idf1=mtmc.idf1, idp=mtmc.idp, idr=mtmc.idr,
        final_delay_p50_s=float(np.percentile(delays, 50)) if delays else math.nan,
        final_delay_p90_s=float(np.percentile(delays, 90)) if delays else math.nan)
