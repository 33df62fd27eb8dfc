"""Who else could this be? The other cameras' visits ranked for one tracklet, with the figures.

An operator confirming or rejecting a match needs the same evidence the linker used: for every
visit of another camera, the appearance distance D between the two visits, the transfer time dt
(exit of the earlier visit to entry of the later one; a visit that overlaps in time is
impossible), the camera pair's transfer prior (mean and spread, configured or learned), R (the
Gaussian of dt times how used the route is and how usual the sides of the pictures are, exactly
as the linker weighs them), the paper's joint distance D / R, how often two different people look this close (from the
impossible pairs) and a confidence R * (1 - that share). Ranked by the joint distance; the
appearance rank is given too, so the prior's effect on the ranking is visible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .features import distances_to
from .negatives import NegativeDistances
from .records import AssociationError
from .transfer import TransferModel
from .trusted import Visit
from .zones import ZoneModel


def rank_candidates(tracklet_id: str, visits: Sequence[Visit], transfer: TransferModel,
                    negatives: NegativeDistances, identities: Mapping[str, int] | None = None,
                    k: int = 10, zones: ZoneModel | None = None) -> list[dict]:
    """The ``k`` best other-camera visits for the visit holding ``tracklet_id``."""
    query = next((v for v in visits if tracklet_id in v.members), None)
    if query is None:
        raise AssociationError(f"tracklet {tracklet_id!r} is not in the live window")
    others = [v for v in visits if v.camera_id != query.camera_id]
    if not others:
        return []
    d = distances_to(query.feature, np.stack([v.feature for v in others]))
    rows = []
    for v, dist in zip(others, d):
        after = v.t_enter_s >= query.t_exit_s
        first, then = (query, v) if after else (v, query)
        dt = then.t_enter_s - first.t_exit_s
        prior = transfer.pair(query.camera_id, v.camera_id)
        route = transfer.route_factor(query.camera_id, v.camera_id)
        zone = 1.0 if zones is None else zones.factor(first.camera_id, first.exit_side, then.camera_id, then.enter_side)
        r = float(prior.r(dt)) * route * zone if dt > 0 else 0.0
        share = float(negatives.share_closer(dist)) if len(negatives) else float("nan")
        rows.append({
            "tracklet_ids": list(v.members), "camera_id": v.camera_id,
            "t_enter_s": v.t_enter_s, "t_exit_s": v.t_exit_s, "direction": "after" if after else "before",
            "feature_distance": round(float(dist), 4), "dt_s": round(float(dt), 3), "r": round(r, 4),
            "joint_distance": round(float(dist) / r, 4) if r > 0 else None,
            "transfer_mean_s": round(prior.mean_s, 3), "transfer_std_s": round(prior.std_s, 3),
            "transfer_late_s": round(prior.reach_s, 3), "prior": prior.source, "route": round(route, 4),
            "zone": round(zone, 4),
            "stranger_share": None if np.isnan(share) else round(share, 4),
            "confidence": round(r * (1.0 - share), 4) if not np.isnan(share) else None,
            "identity_id": None if identities is None else identities.get(v.members[0]),
        })
    by_appearance = np.argsort(d, kind="stable")
    for rank, i in enumerate(by_appearance):
        rows[i]["appearance_rank"] = rank + 1
    rows.sort(key=lambda row: (row["joint_distance"] is None, row["joint_distance"] or 0.0, row["feature_distance"]))
    for rank, row in enumerate(rows):
        row["rank"] = rank + 1
    return rows[:k]
