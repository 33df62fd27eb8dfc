"""Links shown to users as "the same person": absolute, explained, with a confidence.

NN-CCTA (``nn_ccta``) picks *training pairs* and stays exactly the paper's method. It is
relative: with two tracklets in a window they are always each other's nearest neighbour, and
every camera pair keeps its lowest k-means cluster even when no right answer exists. A link a
user reads as "the same person" is decided here instead, batch over a set of tracklets:

1. **Visits.** Fragments of one person's pass through one view are joined first: j starts at
   most ``relink_max_gap_s`` after i ends, near where i ended (``relink_body_heights_per_s`` box
   heights per second of gap), their appearance distance is under the ``relink_quantile`` of
   different-person distances, halved every ``relink_gap_halving_s`` of gap (``link_quantile`` when
   boxes are unknown), and each is the other's best such partner. When i ended at the side of the
   picture, someone walked out: j must come back in where i went out and look closer than all but
   ``relink_reentry_quantile`` of strangers (with ``relink_reentry_confidence``, a binomial bound:
   the sample of strangers must be large enough to show it), since few people walk straight back
   in and strangers walk in by that side all the time. When j began at a side, someone walked in
   from outside the view: the same test (a track lost mid-picture does not come back in by a
   side). A visit's feature is the crop-weighted mean of its fragments; it enters when its first
   fragment starts and exits when its last ends, so dt between cameras is measured between
   visits, not fragments.
2. **Candidates.** Visit v (camera b) may follow visit u (camera a) when it enters after u
   exits, the transfer time is plausible for the pair (R = Gaussian of the pair's learned or
   configured transfer time, times how used the route is next to the cameras' busiest routes,
   times how usual the sides of the pictures u left and v entered by are for the pair
   (``zones``), R >= ``min_r``) and their distance D is under the
   ``link_quantile`` of different-person distances: an absolute test, learned without labels.
3. **One successor, one predecessor.** A person leaves a view for one next view: candidates are
   taken greedily, the most probable first (step 5's posterior; with ``confidence_model =
   "rivals"`` in order of the paper's joint distance D / R), each visit gets at most one
   successor and one predecessor, so an identity is a chain of visits in time and two wrong
   links can never merge two chains into a blob.
4. **Confidence.** R times the chance that no stranger would have done better: for the link
   itself and for every rival visit that was possible by time for either end (with its own R'),
   1 - the share of different-person pairs closer than D * R' / R, the distance at which that
   rival would have won on D / R. More rivals, and rivals as plausible in time, lower it; a
   rival that came at an unlikely time hardly does. This ``rival_confidence`` teaches the
   transfer model (``learn_confidence``).
5. **Posterior** (``posterior``, ``confidence_model = "posterior"``, the default): the chance the
   link is right against every candidate of either end *and* against "the person left the
   network" (a stranger who is the best of a few for a visit whose person never came back has a
   high rival confidence, not a high posterior). This is the link's ``confidence``, once the
   stranger sample is large enough to resolve a person's own quantiles (``posterior_in_use``);
   on a cold start the rival confidence is, shown at ``min_rival_confidence``.
   Only links with confidence >= ``min_confidence`` are shown to users.
Each link carries its explanation: D, R, dt against the pair's transfer time and spread, where
that prior came from, the confidence and its rivals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..config.associator import Trust
from ..track.similarity import side_of
from .features import gram_distance_matrix as distance_matrix
from .negatives import NegativeDistances
from .posterior import base_odds, calibrate, visit_rates
from .records import TrackletMeta
from .transfer import TransferModel
from .zones import ZoneModel, picture_widths


@dataclass(frozen=True, order=True)
class TrustedLink:
    """``tracklet_a`` ends (in ``camera_a``) before ``tracklet_b`` begins; ``kind`` cross or relink."""

    tracklet_a: str
    tracklet_b: str
    camera_a: str
    camera_b: str
    kind: str                 # "cross": two cameras; "relink": two fragments of one visit
    feature_distance: float
    r: float
    dt_s: float
    transfer_mean_s: float    # the pair's prior now (cross) or 0 (relink)
    transfer_std_s: float
    prior: str                # "configured" | "learned" | "" (relink)
    confidence: float
    rivals: int
    transfer_late_s: float = 0.0   # the prior's spread after its mean (later than usual)
    zone: float = 1.0              # how usual the sides left and entered by are for the pair (zones)
    exit_side: str | None = None   # side of a's picture the earlier visit left by (None: not a side)
    enter_side: str | None = None  # side of b's picture the later visit came in by
    route: float = 1.0             # how used the route is next to the cameras' busiest (part of r)
    rival_confidence: float | None = None  # R x the chance no stranger beats it (step 4); None: ``confidence``

    @property
    def key(self) -> tuple[str, str]:
        return (self.tracklet_a, self.tracklet_b) if self.tracklet_a < self.tracklet_b else (self.tracklet_b, self.tracklet_a)

    @classmethod
    def from_explain(cls, d: dict) -> "TrustedLink":
        """The link an ``explain()`` map describes (how a restarted associator reads stored links)."""
        return cls(str(d["tracklet_a"]), str(d["tracklet_b"]), str(d["camera_a"]), str(d["camera_b"]), str(d["kind"]),
                   float(d["feature_distance"]), float(d["r"]), float(d["dt_s"]), float(d["transfer_mean_s"]),
                   float(d["transfer_std_s"]), str(d["prior"]), float(d["confidence"]), int(d["rivals"]),
                   float(d.get("transfer_late_s", d["transfer_std_s"])), float(d.get("zone", 1.0)),
                   d.get("exit_side"), d.get("enter_side"), float(d.get("route", 1.0)),
                   float(d.get("rival_confidence", d["confidence"])))

    def explain(self) -> dict:
        return {"tracklet_a": self.tracklet_a, "tracklet_b": self.tracklet_b, "camera_a": self.camera_a,
                "camera_b": self.camera_b, "kind": self.kind, "feature_distance": round(self.feature_distance, 4),
                "r": round(self.r, 4), "joint_distance": round(self.feature_distance / max(self.r, 1e-12), 4),
                "dt_s": round(self.dt_s, 3), "transfer_mean_s": round(self.transfer_mean_s, 3),
                "transfer_std_s": round(self.transfer_std_s, 3), "transfer_late_s": round(self.transfer_late_s, 3),
                "prior": self.prior, "zone": round(self.zone, 4), "exit_side": self.exit_side,
                "enter_side": self.enter_side, "route": round(self.route, 4),
                "confidence": round(self.confidence, 4), "rivals": self.rivals,
                "rival_confidence": round(self.rivals_say, 4)}

    @property
    def rivals_say(self) -> float:
        """R x the chance that no stranger would have beaten this link (step 4's confidence)."""
        return self.confidence if self.rival_confidence is None else self.rival_confidence


@dataclass(frozen=True)
class Visit:
    members: tuple[str, ...]           # tracklet ids in time order
    camera_id: str
    t_enter_s: float
    t_exit_s: float
    feature: np.ndarray
    enter_side: str | None = None      # side of the picture the visit began at (None: not a side)
    exit_side: str | None = None       # ... and ended at


def _centres_and_heights(boxes: list) -> np.ndarray:
    """(n, 3) box centre x, y and height; NaN rows where a tracklet has no box."""
    out = np.full((len(boxes), 3), np.nan)
    for i, box in enumerate(boxes):
        if box is not None:
            x0, y0, x1, y1 = box
            out[i] = ((x0 + x1) / 2.0, (y0 + y1) / 2.0, max(y1 - y0, 1.0))
    return out


def _near(group: Sequence[TrackletMeta], gap_s: np.ndarray, per_s: float) -> tuple[np.ndarray, np.ndarray]:
    """[i, j]: did j begin where i ended, give or take how far a person walks in the gap
    (``per_s`` box heights a second)? And [i, j]: is that known at all (both have boxes)?"""
    a = _centres_and_heights([t.last_box_xyxy for t in group])
    b = _centres_and_heights([t.first_box_xyxy for t in group])
    dist = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    h = (a[:, None, 2] + b[None, :, 2]) / 2.0
    known = ~np.isnan(dist)
    with np.errstate(invalid="ignore"):
        ok = dist <= h * (1.0 + per_s * np.maximum(gap_s, 0.0))
    return ok & known, known


def _at_a_side(boxes: Sequence, width: float | None, margin: float) -> np.ndarray:
    """Per box: does it touch the left or right side of the picture?"""
    return np.array([side_of(box, width, margin) is not None for box in boxes])


def _pair_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def relink_fragments(tracklets: Sequence[TrackletMeta], negatives: NegativeDistances, cfg: Trust,
                     fixed: Iterable[TrustedLink] = (), preferred: frozenset = frozenset(),
                     widths: Mapping[str, float] | None = None) -> list[TrustedLink]:
    """Step 1: mutual-best fragment links inside each camera. ``fixed`` ones are kept as they
    are (and fixed cross links keep their ends free of fragments); ``preferred`` keys (links users
    already see) are kept first while they pass the tests."""
    fixed = list(fixed)
    out = [l for l in fixed if l.kind == "relink"]
    # A final cross link leaves the end of one visit and enters the start of another: no fragment
    # may join either visit there any more (it would give the tracklet a second successor).
    has_succ = {l.tracklet_a for l in fixed}
    has_pred = {l.tracklet_b for l in fixed}
    if len(negatives) < 1:
        return sorted(out)
    tau_blind = negatives.quantile(min(cfg.relink_quantile, cfg.link_quantile))   # no boxes: appearance alone
    by_cam: dict[str, list[TrackletMeta]] = {}
    for t in tracklets:
        by_cam.setdefault(t.camera_id, []).append(t)
    for cam, group in sorted(by_cam.items()):
        group.sort(key=lambda t: (t.t_start_s, t.tracklet_id))
        if len(group) < 2:
            continue
        d = distance_matrix(np.stack([t.feature for t in group]), np.stack([t.feature for t in group]))
        gap = np.array([t.t_start_s for t in group])[None, :] - np.array([t.t_end_s for t in group])[:, None]
        near, known = _near(group, gap, cfg.relink_body_heights_per_s)
        # The longer a track was lost, the likelier someone else walked into its place: the share
        # of strangers allowed to look this close halves every ``relink_gap_halving_s`` of gap.
        share = negatives.share_closer(d)
        allowed = cfg.relink_quantile * np.power(0.5, np.maximum(gap, 0.0) / cfg.relink_gap_halving_s)
        # A fragment that ended at the side of the picture is a person who walked out, not a lost
        # track: whoever comes back in (where they went out, not at the other side of the picture)
        # is a stranger walking in unless they look closer than all but a few strangers do.
        width = (widths or picture_widths(group)).get(cam)
        # Likewise a fragment that began at a side is someone who walked in from outside the view:
        # the continuation of a track lost inside the picture only if they look that close and
        # came in where it was lost (a track lost in the middle does not come back in at a side).
        out_of_view = _at_a_side([t.last_box_xyxy for t in group], width, cfg.zones.side_margin)[:, None]
        walked_in = _at_a_side([t.first_box_xyxy for t in group], width, cfg.zones.side_margin)[None, :]
        back_in, _ = _near(group, np.zeros_like(gap), 0.0)
        reentry = back_in & (d < negatives.bounded_quantile(cfg.relink_reentry_quantile, cfg.relink_reentry_confidence))
        ok = (gap >= 0.0) & (gap <= cfg.relink_max_gap_s) & np.where(
            ~known, d < tau_blind, np.where(out_of_view | walked_in, reentry, near & (share <= allowed)))
        np.fill_diagonal(ok, False)
        cost = np.where(ok, d, np.inf)
        chosen = [(i, j) for i, j in zip(*np.nonzero(ok))
                  if _pair_key(group[i].tracklet_id, group[j].tracklet_id) in preferred
                  and group[i].tracklet_id not in has_succ and group[j].tracklet_id not in has_pred]
        for i, ti in enumerate(group):
            if ti.tracklet_id in has_succ:
                cost[i, :] = np.inf
            if ti.tracklet_id in has_pred:
                cost[:, i] = np.inf
        for i, j in chosen:
            cost[i, :] = np.inf
            cost[:, j] = np.inf
        succ, pred = np.argmin(cost, axis=1), np.argmin(cost, axis=0)
        chosen += [(i, int(j)) for i, j in enumerate(succ) if np.isfinite(cost[i, j]) and pred[j] == i]
        for i, j in chosen:
            ti, tj = group[i], group[j]
            p = float(negatives.share_closer(d[i, j]))
            out.append(TrustedLink(ti.tracklet_id, tj.tracklet_id, cam, cam, "relink", float(d[i, j]), 1.0,
                                   tj.t_start_s - ti.t_end_s, 0.0, 0.0, "", 1.0 - p, 0))
    return sorted(out)


def visits_of(tracklets: Sequence[TrackletMeta], relinks: Iterable[TrustedLink],
              widths: Mapping[str, float] | None = None, side_margin: float = 0.03) -> list[Visit]:
    """Chains of relinked fragments (each fragment has at most one successor and predecessor),
    with the side of the picture each chain began and ended at."""
    widths = picture_widths(tracklets) if widths is None else widths
    by_id = {t.tracklet_id: t for t in tracklets}
    nxt = {l.tracklet_a: l.tracklet_b for l in relinks if l.tracklet_a in by_id and l.tracklet_b in by_id}
    has_pred = set(nxt.values())
    out = []
    for t in sorted(tracklets, key=lambda t: (t.t_start_s, t.tracklet_id)):
        if t.tracklet_id in has_pred:
            continue
        chain = [t]
        while chain[-1].tracklet_id in nxt:
            chain.append(by_id[nxt[chain[-1].tracklet_id]])
        w = np.array([m.n_crops for m in chain], dtype=np.float64)
        feat = (np.stack([m.feature for m in chain]).astype(np.float64) * w[:, None]).sum(0) / w.sum()
        width = widths.get(t.camera_id)
        out.append(Visit(tuple(m.tracklet_id for m in chain), t.camera_id, min(m.t_start_s for m in chain),
                         max(m.t_end_s for m in chain), feat.astype(np.float32),
                         side_of(chain[0].first_box_xyxy, width, side_margin),
                         side_of(chain[-1].last_box_xyxy, width, side_margin)))
    return out


def link_visits(visits: Sequence[Visit], transfer: TransferModel, negatives: NegativeDistances, cfg: Trust,
                fixed: Iterable[TrustedLink] = (), preferred: Mapping[tuple[str, str], TrustedLink] = {},
                zones: ZoneModel | None = None) -> list[TrustedLink]:
    """Steps 2-4 over visits; ``fixed`` cross links (already final) keep their visits' slots.
    ``preferred`` links (users already see them) are judged on the evidence they were shown on:
    kept as they are while they still join the end of one visit to the start of another and
    still pass the appearance test; a prior that has learned since does not reshuffle them."""
    pos = {tid: k for k, v in enumerate(visits) for tid in v.members}
    out: list[TrustedLink] = []
    has_succ: set[int] = set()
    has_pred: set[int] = set()
    for l in fixed:
        if l.kind == "cross" and l.tracklet_a in pos and l.tracklet_b in pos:
            out.append(l)
        # A fixed link holds its slots even when its other end is not among these tracklets.
        if l.tracklet_a in pos and (l.kind == "cross" or l.tracklet_b not in pos):
            has_succ.add(pos[l.tracklet_a])
        if l.tracklet_b in pos and (l.kind == "cross" or l.tracklet_a not in pos):
            has_pred.add(pos[l.tracklet_b])
    if len(negatives) < cfg.min_negatives or len(visits) < 2:
        return sorted(out)
    tau = negatives.quantile(cfg.link_quantile)
    d = distance_matrix(np.stack([v.feature for v in visits]), np.stack([v.feature for v in visits]))
    ends = {v.members[-1]: k for k, v in enumerate(visits)}
    starts = {v.members[0]: k for k, v in enumerate(visits)}
    for l in preferred.values():
        u, v = ends.get(l.tracklet_a), starts.get(l.tracklet_b)
        if l.kind == "cross" and u is not None and v is not None and u not in has_succ and v not in has_pred \
                and d[u, v] <= tau:
            out.append(l)
            has_succ.add(u)
            has_pred.add(v)
    enter = np.array([v.t_enter_s for v in visits])
    leave = np.array([v.t_exit_s for v in visits])
    by_cam: dict[str, np.ndarray] = {}
    for k, v in enumerate(visits):
        by_cam.setdefault(v.camera_id, []).append(k)
    by_cam = {c: np.array(ks) for c, ks in by_cam.items()}
    # Every time-plausible (R >= min_r) ordered pair of visits in two cameras, as flat arrays.
    us, vs, dts, rs, pair_of = [], [], [], [], []
    priors: list[tuple[object, float]] = []
    for ca, ia in sorted(by_cam.items()):
        for cb, ib in sorted(by_cam.items()):
            if ca == cb:
                continue
            prior = transfer.pair(ca, cb)
            dt = enter[ib][None, :] - leave[ia][:, None]
            route = transfer.route_factor(ca, cb)
            r = np.where(dt > 0, prior.r(dt), 0.0) * route
            if zones is not None:          # the factor depends on the two sides only: a 3 x 3 table
                sides = (None, "left", "right")
                table = np.array([[zones.factor(ca, so, cb, si) for si in sides] for so in sides])
                out_side = np.array([sides.index(visits[u].exit_side) for u in ia])
                in_side = np.array([sides.index(visits[v].enter_side) for v in ib])
                r = r * table[out_side[:, None], in_side[None, :]]
            i, j = np.nonzero(r >= cfg.min_r)
            us.append(ia[i])
            vs.append(ib[j])
            dts.append(dt[i, j])
            rs.append(r[i, j])
            pair_of.append(np.full(i.size, len(priors)))
            priors.append((prior, route))
    if not us:
        return sorted(out)
    u_all, v_all = np.concatenate(us).astype(int), np.concatenate(vs).astype(int)
    dt_all, r_all, p_all = np.concatenate(dts), np.concatenate(rs), np.concatenate(pair_of)
    # R of every time-plausible successor of u and predecessor of v: the rivals of a link u -> v.
    r_out = _grouped(u_all, r_all)
    r_in = _grouped(v_all, r_all)
    d_all = d[u_all, v_all]
    use_posterior = posterior_in_use(cfg, negatives)
    cal = _posteriors(visits, u_all, v_all, r_all, p_all, negatives.share_closer(d_all), priors, transfer, cfg) \
        if use_posterior else None
    keep = np.nonzero(d_all <= tau)[0]
    # The most probable link first (posterior), or the paper's joint distance D / R (rivals).
    rank = -np.minimum(cal.succ, cal.pred) if use_posterior else d_all / r_all
    order = keep[np.lexsort((v_all[keep], u_all[keep], rank[keep]))]
    for k in order:
        u, v = int(u_all[k]), int(v_all[k])
        if u in has_succ or v in has_pred:
            continue
        has_succ.add(u)
        has_pred.add(v)
        r, dt = float(r_all[k]), float(dt_all[k])
        prior, route = priors[p_all[k]]
        # A rival with R' beats this link when its distance is under D * R' / R; a stranger's is
        # with probability share_closer(D * R' / R). Confidence: R times the chance none does.
        rival_r = np.concatenate([_without_one(r_out[u], r), _without_one(r_in[v], r)])
        rivals = int(rival_r.size)
        beat = negatives.share_closer(d[u, v] / r * np.concatenate([[r], rival_r]))
        conf = r * float(np.prod(1.0 - beat))
        if use_posterior:                           # both ends must agree for the link to be right
            shown_conf = float(min(cal.succ[k], cal.pred[k]))
        else:
            shown_conf = conf
        vu, vv = visits[u], visits[v]
        zone = 1.0 if zones is None else zones.factor(vu.camera_id, vu.exit_side, vv.camera_id, vv.enter_side)
        out.append(TrustedLink(vu.members[-1], vv.members[0], vu.camera_id, vv.camera_id, "cross", float(d[u, v]),
                               r, dt, prior.mean_s, prior.std_s, prior.source, shown_conf, rivals, prior.reach_s,
                               zone, vu.exit_side, vv.enter_side, route, conf))
    return sorted(out)


def posterior_in_use(cfg: Trust, negatives: NegativeDistances) -> bool:
    """Is a cross link's confidence its posterior now? Only once the stranger sample resolves the
    quantiles a person's own visits fall at (``posterior_min_negatives``): with 120 strangers every
    link closer than all but one sits at the same quantile (1/120), so appearance no longer tells
    candidates apart and time alone decides (measured on the demo's cold start). Until then the
    rival confidence is shown, at ``min_rival_confidence``, and links are taken by D / R."""
    return cfg.confidence_model == "posterior" and len(negatives) >= cfg.posterior_min_negatives


def _posteriors(visits: Sequence[Visit], u_all: np.ndarray, v_all: np.ndarray, r_all: np.ndarray,
                p_all: np.ndarray, q_all: np.ndarray, priors: list, transfer: TransferModel, cfg: Trust):
    """Each candidate pair's posterior as u's successor and as v's predecessor (``posterior``),
    with rho and f_same calibrated on these visits."""
    cams = [v.camera_id for v in visits]
    enter = np.array([v.t_enter_s for v in visits])
    leave = np.array([v.t_exit_s for v in visits])
    rate = visit_rates(cams, enter, leave)
    names = sorted(set(cams))
    spread = np.array([0.5 * (p.std_s + p.reach_s) for p, _ in priors])[p_all]
    route_k = np.array([rt for _, rt in priors])[p_all]
    cam_u = [cams[u] for u in u_all]
    cam_v = [cams[v] for v in v_all]
    # The route factor in R is replaced by the share of people taking the route (either way round).
    r_time = r_all / np.maximum(route_k, 1e-12)
    share = {(a, b): transfer.route_share(a, b, names) for a in names for b in names if a != b}
    ab = np.array([share[a, b] for a, b in zip(cam_u, cam_v)])
    ba = np.array([share[b, a] for a, b in zip(cam_u, cam_v)])
    succ = base_odds(r_time, spread, ab, np.array([rate[b] for b in cam_v]))
    pred = base_odds(r_time, spread, ba, np.array([rate[a] for a in cam_u]))
    # A visit's candidates have all had their chance once the longest transfer has passed since it
    # left (successors), or had passed before it entered (predecessors).
    horizon = transfer.horizon_s()
    u_complete = (leave + horizon <= enter.max()).astype(np.float64)
    v_complete = (enter - horizon >= leave.min()).astype(np.float64)
    return calibrate(succ, pred, q_all, u_all, v_all, len(visits), u_complete, v_complete, cfg.successor_prior,
                     cfg.same_quantile_mean, cfg.calibration_weight)


def _grouped(keys: np.ndarray, values: np.ndarray) -> dict[int, np.ndarray]:
    """{key: its values, in input order}."""
    order = np.argsort(keys, kind="stable")
    k, v = keys[order], values[order]
    cuts = np.nonzero(np.diff(k))[0] + 1
    return {int(group[0]): vals for group, vals in zip(np.split(k, cuts), np.split(v, cuts))} if k.size else {}


def _without_one(values: np.ndarray, x: float) -> np.ndarray:
    """``values`` with the first element equal to ``x`` left out (the link itself among its rivals)."""
    at = np.nonzero(values == x)[0]
    return np.delete(values, at[0]) if at.size else values


def trusted_links(tracklets: Sequence[TrackletMeta], transfer: TransferModel, negatives: NegativeDistances,
                  cfg: Trust, fixed: Iterable[TrustedLink] = (), preferred: Iterable[TrustedLink] = (),
                  zones: ZoneModel | None = None) -> tuple[list[TrustedLink], list[Visit]]:
    """Relinks and cross links over ``tracklets`` (steps 1-4), with the visits they imply.

    ``fixed``: final links, kept as they are. ``preferred``: links users already see; they keep
    their place while they still pass the tests they were shown on, so a later arrival or a prior
    that has learned since does not reshuffle what was shown (only evidence against a link, such
    as a fragment joining its visit, retracts it)."""
    fixed, preferred = list(fixed), {l.key: l for l in preferred}
    widths = picture_widths(tracklets)
    relinks = relink_fragments(tracklets, negatives, cfg, fixed, frozenset(preferred), widths)
    visits = visits_of(tracklets, relinks, widths, cfg.zones.side_margin)
    return relinks + link_visits(visits, transfer, negatives, cfg, fixed, preferred, zones), visits
