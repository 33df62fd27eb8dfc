"""Retention by age and by size, and identity history surviving eviction.

Guards against: a disk filling up on a long-running associator; eviction that makes a
lookup of an identity forget where it was seen last week; eviction that deletes crops of
tracklets the live window still needs; a redelivered old tracklet resurrecting after eviction.
"""

from __future__ import annotations

import pytest

from tastr_stream.config.associator import Retention
from tastr_stream.errors import StoreError
from tastr_stream.store import LinkRow, Store

from .synth import make_tracklet

MIB = 1024 * 1024


def _fill(store: Store, n: int, **kw) -> list:
    ts = [make_tracklet(i, camera_id=f"cam{i % 3}", t_start_s=100.0 + 10 * i, **kw) for i in range(n)]
    store.put_tracklets(ts)
    return ts


def test_age_eviction_keeps_identity_history(tmp_path):
    with Store.open(tmp_path, Retention(max_age_s=100, max_bytes=10 * MIB)) as store:
        ts = _fill(store, 10)
        ids = [t.tracklet_id for t in ts]
        store.set_identities({ids[0]: 1, ids[5]: 1, ids[8]: 1, ids[1]: 2, ids[2]: 2})
        store.upsert_links([LinkRow(ids[0], ids[5], 0.1, 0.2, 0.9), LinkRow(ids[5], ids[8], 0.1, 0.2, 0.9)])
        before = store.sightings(1)
        report = store.enforce_retention(now_s=260.0)     # cutoff 160: t_end < 160 goes (i = 0..5)
        assert (report.evicted_by_age, report.evicted_by_size, report.over_budget) == (6, 0, False)
        stats = store.stats()
        assert (stats.tracklets, stats.evicted, stats.embeddings) == (4, 6, 4)
        after = store.sightings(1)
        assert [(s.tracklet_id, s.camera_id, s.t_start_s, s.t_end_s) for s in after] == [
            (s.tracklet_id, s.camera_id, s.t_start_s, s.t_end_s) for s in before]
        assert [s.evicted for s in after] == [True, True, False]
        assert all(s.thumbnail_jpeg[:2] == b"\xff\xd8" for s in after)
        assert [s.tracklet_id for s in store.sightings(2)] == ids[1:3]
        assert store.identity_of(ids[0]) == 1
        assert store.find_by_camera_track("cam0", 0) == [ids[0]]
        assert store.get_tracklet(ids[0]) is None
        with pytest.raises(StoreError, match="evicted"):
            store.crops(ids[0])
        assert not (tmp_path / store.crop_files.rel_path("cam0", ids[0])).exists()
        assert store.links() == []                        # both links touched an evicted tracklet
        assert store.put_tracklet(ts[0]) is False         # redelivery does not resurrect it
        store.set_identities({ids[0]: 3})                 # an evicted tracklet can still be relabelled
        assert [s.tracklet_id for s in store.sightings(3)] == [ids[0]]
        assert store.integrity_check() == []
        assert store.enforce_retention(now_s=260.0).evicted_by_age == 0


def test_size_eviction_takes_the_oldest_until_under_budget(tmp_path):
    retention = Retention(max_age_s=10**9, summary_max_age_s=10**9, max_bytes=int(1.5 * MIB))
    with Store.open(tmp_path, retention) as store:
        ts = _fill(store, 12, n_crops=5, crop_hw=(256, 128), noise=True)
        store.set_identities({t.tracklet_id: 7 for t in ts})
        start = store.stats()
        assert start.crop_bytes > 2 * MIB, "test needs data well over the budget"
        report = store.enforce_retention(now_s=300.0)
        assert report.evicted_by_age == 0 and report.evicted_by_size > 0 and not report.over_budget
        assert report.bytes_after <= retention.max_bytes
        stats = store.stats()
        assert stats.crop_bytes < retention.max_bytes
        live = [t.t_end_s for t in store.tracklets_between(0, 1e9)]
        gone = [t for t in ts if store.get_tracklet(t.tracklet_id) is None]
        assert len(gone) == report.evicted_by_size and max(t.t_end_s for t in gone) < min(live)
        # The identity still lists all 12 sightings, oldest evicted first.
        sights = store.sightings(7)
        assert [s.tracklet_id for s in sights] == [t.tracklet_id for t in ts]
        assert sum(s.evicted for s in sights) == len(gone)
        # Few tracklets too many: the oldest live one goes, no more than needed.
        assert report.bytes_after > retention.max_bytes - 2 * start.crop_bytes / 12
        assert store.integrity_check() == []


def test_size_eviction_spares_the_live_window(tmp_path):
    retention = Retention(max_age_s=10**9, summary_max_age_s=10**9, max_bytes=int(1.1 * MIB))
    with Store.open(tmp_path, retention) as store:
        ts = _fill(store, 12, n_crops=5, crop_hw=(256, 128), noise=True)
        keep_from_s = ts[6].t_end_s                      # the newest 6 form the live window
        report = store.enforce_retention(now_s=300.0, keep_from_s=keep_from_s)
        assert report.over_budget and report.evicted_by_size == 6
        assert [t.tracklet_id for t in store.tracklets_between(0, 1e9)] == [t.tracklet_id for t in ts[6:]]
        for t in ts[6:]:
            assert store.crops(t.tracklet_id) == list(t.crops_jpeg)
