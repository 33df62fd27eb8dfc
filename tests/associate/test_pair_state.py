"""PairState keeps its accepted set equal to k-means over its current candidates.

Guards the incremental shortcut (sorted values, diff by threshold): after any sequence of
candidate additions and removals, the accepted keys must be exactly what ``lowest_cluster_mask``
keeps for the same candidates, and the reported diffs must replay to that set.
"""

import numpy as np
from hypothesis import given, settings, strategies as st

from tastr_stream.associate import AssociatedPair, lowest_cluster_mask
from tastr_stream.associate.kmeans1d import lowest_cluster_size_sorted
from tastr_stream.associate.pair_state import PairState
from tastr_stream.config import Association


def _pair(i: int, value: float) -> AssociatedPair:
    return AssociatedPair(f"a:{i}", f"b:{i}", "cam1", "cam2", value, 2 * value, 0.5)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.booleans(), st.integers(0, 12)), min_size=1, max_size=120),
       st.integers(1, 4), st.integers(1, 6))
def test_accepted_equals_kmeans_after_any_changes(ops, k, refresh_every):
    state = PairState("cam1", "cam2", Association(kmeans_k=k))
    values = {i: 0.05 * q for i, _, q in ops}           # coarse values: many ties
    present: dict[tuple[str, str], AssociatedPair] = {}
    replay: set[tuple[str, str]] = set()
    dropped: dict = {}
    for step, (i, add, _) in enumerate(ops):
        p = _pair(i, values[i])
        if add:
            state.set_candidate(p)
            present[p.key] = p
        else:
            gone = state.drop_candidate(p.key)
            assert (gone is not None) == (p.key in present)
            if gone is not None:
                dropped[gone.key] = present.pop(p.key)
        if step % refresh_every == 0 or step == len(ops) - 1:
            added, removed = state.refresh(dropped)
            dropped = {}
            assert not {q.key for q in added} & replay
            assert {q.key for q in removed} <= replay
            replay = (replay - {q.key for q in removed}) | {q.key for q in added}
            keys = sorted(present)
            mask = lowest_cluster_mask([present[key].feature_distance for key in keys], k)
            want = {key for key, m in zip(keys, mask) if m}
            assert set(state.accepted) == want == replay


def test_lowest_cluster_size_sorted_matches_the_mask():
    rng = np.random.default_rng(5)
    for n in (1, 2, 7, 200):
        v = np.round(rng.gamma(2.0, 0.3, n), 2)
        for k in (1, 2, 3, 5):
            assert lowest_cluster_size_sorted(np.sort(v), k) == int(lowest_cluster_mask(v, k).sum())
    assert lowest_cluster_size_sorted(np.zeros(0), 3) == 0
