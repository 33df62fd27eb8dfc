"""Quality of cross-camera tracklet association against ground truth (paper Fig. 7).

Pair level (:func:`evaluate_pairs`): the associator emits unordered tracklet pairs (a, b).
- A predicted pair counts once however often or in whichever order it is given. Pairs inside
  one camera are not cross-camera associations: they are ignored and counted.
- precision = predicted cross-camera pairs with the same identity / predicted cross-camera pairs
- recall    = true cross-camera pairs that were predicted / true cross-camera pairs
  where a true pair is two tracklets of the same identity in different cameras.
- ``camera_pairs`` restricts both sides to those (unordered) camera pairs; predicted pairs
  outside them are ignored and counted.
- ``adjacent_only`` restricts the *true* pairs (the recall side) to consecutive camera visits:
  an identity's tracklets, ordered by (first_frame, last_frame, id), form visits = maximal runs
  in one camera; a true pair is adjacent when its two tracklets lie in consecutive visits
  (the person walked from one camera straight to the other, which is what STR models). A
  same-identity but non-adjacent prediction still counts as correct for precision: it links
  the right person.
- Tracklets with a negative pid (unlabelled, junk) match nobody: a pair touching one is wrong.

Identity level (:func:`evaluate_clusters`): global identities are clusters of tracklets;
pairwise precision / recall of the clustering are the pair definitions above applied to
"same cluster" vs "same identity" (counted in closed form from contingency counts).
Empty denominators give NaN: "no pairs" is not 0 % or 100 % of anything.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Hashable, Iterable, Mapping

from ..errors import EvalError
from .protocol import TrackletMeta

CameraPair = tuple[str, str]


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def _cam_pair(a: str, b: str) -> CameraPair:
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True)
class PairCounts:
    num_predicted: int       # distinct predicted cross-camera pairs in scope
    num_correct: int         # ... of which same identity
    num_true: int            # true cross-camera pairs in scope (adjacent ones if asked)
    num_true_found: int      # true pairs that were predicted

    @property
    def precision(self) -> float:
        return _ratio(self.num_correct, self.num_predicted)

    @property
    def recall(self) -> float:
        return _ratio(self.num_true_found, self.num_true)


@dataclass(frozen=True)
class PairMetrics:
    overall: PairCounts
    per_camera_pair: dict[CameraPair, PairCounts]
    num_same_camera_ignored: int
    num_out_of_scope_ignored: int

    @property
    def precision(self) -> float:
        return self.overall.precision

    @property
    def recall(self) -> float:
        return self.overall.recall


def _index(tracklets: Iterable[TrackletMeta]) -> dict[str, TrackletMeta]:
    by_id: dict[str, TrackletMeta] = {}
    for t in tracklets:
        if t.tracklet_id in by_id:
            raise EvalError(f"duplicate tracklet id {t.tracklet_id!r} in ground truth")
        by_id[t.tracklet_id] = t
    return by_id


def _visit_index(by_id: Mapping[str, TrackletMeta]) -> dict[str, int]:
    """Per tracklet, the index of its camera visit within its identity's time-ordered trajectory."""
    by_pid: dict[int, list[TrackletMeta]] = defaultdict(list)
    for t in by_id.values():
        if t.pid >= 0:
            by_pid[t.pid].append(t)
    visit: dict[str, int] = {}
    for ts in by_pid.values():
        ts.sort(key=lambda t: (t.first_frame, t.last_frame, t.tracklet_id))
        k = 0
        for prev, t in zip([None, *ts], ts):
            if prev is not None and prev.camera_id != t.camera_id:
                k += 1
            visit[t.tracklet_id] = k
    return visit


def _true_pair_counts(by_id: Mapping[str, TrackletMeta], visit: Mapping[str, int] | None) -> Counter:
    """Number of true cross-camera pairs per camera pair (adjacent ones only when ``visit`` is given)."""
    groups: dict[tuple, Counter] = defaultdict(Counter)  # (pid[, visit]) -> camera -> count
    for t in by_id.values():
        if t.pid >= 0:
            groups[(t.pid,) if visit is None else (t.pid, visit[t.tracklet_id])][t.camera_id] += 1
    counts: Counter = Counter()
    if visit is None:
        for cams in groups.values():
            items = sorted(cams.items())
            for i, (ca, na) in enumerate(items):
                for cb, nb in items[i + 1:]:
                    counts[_cam_pair(ca, cb)] += na * nb
        return counts
    for (pid, k), cams in groups.items():
        nxt = groups.get((pid, k + 1))
        if nxt:
            (ca, na), = cams.items()            # a visit is one camera by construction
            (cb, nb), = nxt.items()
            counts[_cam_pair(ca, cb)] += na * nb
    return counts


def evaluate_pairs(predicted_pairs: Iterable[tuple[str, str]], tracklets: Iterable[TrackletMeta], *,
                   camera_pairs: Iterable[tuple[str, str]] | None = None,
                   adjacent_only: bool = False) -> PairMetrics:
    """Precision / recall of predicted cross-camera pairs, overall and per camera pair."""
    by_id = _index(tracklets)
    scope = None if camera_pairs is None else {_cam_pair(a, b) for a, b in camera_pairs}
    visit = _visit_index(by_id) if adjacent_only else None

    distinct: set[tuple[str, str]] = set()
    same_cam = out_of_scope = 0
    for pair in predicted_pairs:
        a, b = pair
        for x in (a, b):
            if x not in by_id:
                raise EvalError(f"predicted pair {pair!r} names tracklet {x!r} that is not in the ground truth")
        key = (a, b) if a <= b else (b, a)
        if key in distinct:
            continue
        ta, tb = by_id[a], by_id[b]
        if ta.camera_id == tb.camera_id:
            same_cam += 1
        elif scope is not None and _cam_pair(ta.camera_id, tb.camera_id) not in scope:
            out_of_scope += 1
        else:
            distinct.add(key)

    predicted: Counter = Counter()
    correct: Counter = Counter()
    found: Counter = Counter()
    for a, b in distinct:
        ta, tb = by_id[a], by_id[b]
        cp = _cam_pair(ta.camera_id, tb.camera_id)
        predicted[cp] += 1
        if ta.pid >= 0 and ta.pid == tb.pid:
            correct[cp] += 1
            if visit is None or abs(visit[a] - visit[b]) == 1:
                found[cp] += 1

    true = _true_pair_counts(by_id, visit)
    if scope is not None:
        true = Counter({cp: n for cp, n in true.items() if cp in scope})
    keys = sorted(set(predicted) | set(true) | (scope or set()))
    per = {cp: PairCounts(predicted[cp], correct[cp], true[cp], found[cp]) for cp in keys}
    overall = PairCounts(sum(predicted.values()), sum(correct.values()),
                         sum(true.values()), sum(found.values()))
    return PairMetrics(overall=overall, per_camera_pair=per,
                       num_same_camera_ignored=same_cam, num_out_of_scope_ignored=out_of_scope)


@dataclass(frozen=True)
class ClusterMetrics:
    num_pairs_predicted: int   # tracklet pairs put in one cluster
    num_pairs_correct: int     # ... that are one identity
    num_pairs_true: int        # tracklet pairs of one identity
    num_clusters: int
    num_identities: int

    @property
    def precision(self) -> float:
        return _ratio(self.num_pairs_correct, self.num_pairs_predicted)

    @property
    def recall(self) -> float:
        return _ratio(self.num_pairs_correct, self.num_pairs_true)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return math.nan if math.isnan(p) or math.isnan(r) or p + r == 0 else 2 * p * r / (p + r)


def _pairs_in_groups(keys: Iterable[tuple[Hashable, str]], cross_camera_only: bool) -> int:
    """Pairs of items sharing a group key; with ``cross_camera_only`` only pairs in different cameras."""
    group_sizes: Counter = Counter()
    group_cam_sizes: Counter = Counter()
    for group, camera in keys:
        group_sizes[group] += 1
        group_cam_sizes[(group, camera)] += 1
    total = sum(n * (n - 1) // 2 for n in group_sizes.values())
    if cross_camera_only:
        total -= sum(n * (n - 1) // 2 for n in group_cam_sizes.values())
    return total


def evaluate_clusters(assignment: Mapping[str, Hashable], tracklets: Iterable[TrackletMeta], *,
                      cross_camera_only: bool = False) -> ClusterMetrics:
    """Pairwise precision / recall of global identities (``assignment``: tracklet id -> cluster id).

    Tracklets absent from ``assignment`` are singletons (never associated); ids in
    ``assignment`` that are not in the ground truth are an error.
    """
    by_id = _index(tracklets)
    unknown = sorted(set(assignment) - set(by_id))
    if unknown:
        raise EvalError(f"{len(unknown)} assigned tracklet id(s) not in the ground truth, e.g. {unknown[:5]}")

    def cluster(tid: str) -> Hashable:
        return ("assigned", assignment[tid]) if tid in assignment else ("singleton", tid)

    def identity(t: TrackletMeta) -> Hashable:
        return t.pid if t.pid >= 0 else ("unlabelled", t.tracklet_id)

    ts = list(by_id.values())
    by_cluster = [(cluster(t.tracklet_id), t.camera_id) for t in ts]
    by_both = [((cluster(t.tracklet_id), identity(t)), t.camera_id) for t in ts]
    by_identity = [(identity(t), t.camera_id) for t in ts]
    return ClusterMetrics(
        num_pairs_predicted=_pairs_in_groups(by_cluster, cross_camera_only),
        num_pairs_correct=_pairs_in_groups(by_both, cross_camera_only),
        num_pairs_true=_pairs_in_groups(by_identity, cross_camera_only),
        num_clusters=len({cluster(t.tracklet_id) for t in ts}),
        num_identities=len({identity(t) for t in ts}),
    )
