"""Tracklet features, distances and the deterministic 1-D k-means."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tastr_stream.associate import (AssociationError, distance_matrix, distances_to, kmeans_1d,
                                    lowest_cluster_mask, tracklet_feature)


def test_tracklet_feature_is_raw_mean_by_default_and_optionally_normalised():
    crops = np.array([[3.0, 0.0], [5.0, 0.0]], np.float32)
    assert np.array_equal(tracklet_feature(crops), np.array([4.0, 0.0], np.float32))
    assert np.allclose(tracklet_feature(crops, l2_normalise=True), [1.0, 0.0])
    with pytest.raises(AssociationError, match=r"\(0, 4\)"):
        tracklet_feature(np.zeros((0, 4)))
    with pytest.raises(AssociationError, match="zero"):
        tracklet_feature(np.zeros((2, 4)), l2_normalise=True)


def test_distances_euclidean_and_squared_and_row_independence():
    rng = np.random.default_rng(1)
    x, ys = rng.standard_normal(64).astype(np.float32), rng.standard_normal((50, 64)).astype(np.float32)
    d = distances_to(x, ys)
    assert np.allclose(d, np.linalg.norm(ys.astype(np.float64) - x, axis=1))
    assert np.allclose(distances_to(x, ys, "sqeuclidean"), d ** 2)
    # the value for a pair must not depend on the other rows in the call (batch vs incremental)
    assert np.array_equal(d[[3, 17, 41]], distances_to(x, ys[[3, 17, 41]]))
    assert np.array_equal(distance_matrix(ys[:5], x[None])[:, 0], distances_to(x, ys[:5]))
    with pytest.raises(AssociationError, match="cosine"):
        distances_to(x, ys, "cosine")


def test_kmeans_separates_three_groups_and_keeps_the_lowest():
    values = [0.1, 0.12, 0.11, 0.5, 0.52, 0.9, 0.95, 0.13]
    km = kmeans_1d(values, k=3)
    assert km.labels.tolist() == [0, 0, 0, 1, 1, 2, 2, 0]
    assert np.all(np.diff(km.centres) > 0)
    assert lowest_cluster_mask(values, 3).tolist() == [True, True, True, False, False, False, False, True]


def test_kmeans_edge_cases():
    assert kmeans_1d([], 3).labels.size == 0
    assert lowest_cluster_mask([0.4, 0.4, 0.4], 3).all()          # all equal: one cluster
    assert lowest_cluster_mask([0.2, 0.8], 3).tolist() == [True, False]   # fewer distinct than k
    assert lowest_cluster_mask([0.7], 3).tolist() == [True]
    assert lowest_cluster_mask([0.1, 5.0, 9.0], 1).all()            # k = 1 keeps every candidate
    with pytest.raises(AssociationError, match="inf"):
        kmeans_1d([0.1, np.inf], 3)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=40), st.integers(1, 5), st.randoms())
def test_kmeans_does_not_depend_on_input_order(values, k, rnd):
    shuffled = list(values)
    rnd.shuffle(shuffled)
    a, b = kmeans_1d(values, k), kmeans_1d(shuffled, k)
    assert np.array_equal(a.centres, b.centres)
    assert sorted(zip(values, a.labels.tolist())) == sorted(zip(shuffled, b.labels.tolist()))
    # the lowest cluster is a prefix of the sorted values
    kept = np.asarray(values)[a.labels == 0]
    assert kept.max() <= np.asarray(values)[a.labels != 0].min(initial=np.inf)


def test_gram_distance_matrix_equals_the_row_by_row_reference():
    """The linker's fast path (one matrix product) against the exact reference."""
    from tastr_stream.associate.features import gram_distance_matrix

    rng = np.random.default_rng(3)
    xs, ys = rng.normal(0, 3, (40, 64)).astype(np.float32), rng.normal(0, 3, (55, 64)).astype(np.float32)
    np.testing.assert_allclose(gram_distance_matrix(xs, ys), distance_matrix(xs, ys), rtol=1e-9, atol=1e-9)
    assert np.all(np.diag(gram_distance_matrix(xs, xs)) < 1e-6)
