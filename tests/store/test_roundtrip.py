"""Every table round-trips, and duplicate deliveries are no-ops.

Guards against: a redelivered tracklet (ingest retries until acknowledged) creating a second
row or overwriting crops; embeddings of different model versions being mixed; a restart that
cannot rebuild the associator's window, links, identities or the next free identity id.
"""

from __future__ import annotations

import numpy as np
import pytest

from tastr_stream.errors import StoreError
from tastr_stream.store import KV_MODEL_VERSION, LinkRow, Store

from .synth import make_tracklet


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "store") as s:
        yield s


def test_tracklet_round_trip_keeps_every_field(store):
    t = make_tracklet(3, camera_id="cam2", model_version=4)
    assert store.put_tracklet(t) is True
    back = store.get_tracklet(t.tracklet_id, with_crops=True)
    assert (back.tracklet_id, back.camera_id, back.local_track_id) == (t.tracklet_id, "cam2", 3)
    assert (back.t_start_s, back.t_end_s) == (t.t_start_s, t.t_end_s)
    np.testing.assert_array_equal(back.frame_times_s, t.frame_times_s)
    np.testing.assert_array_equal(back.boxes_xyxy, t.boxes_xyxy)
    np.testing.assert_array_equal(back.crop_times_s, t.crop_times_s)
    np.testing.assert_array_equal(back.embedding, t.embedding)
    assert back.crops_jpeg == t.crops_jpeg and back.model_version == 4
    light = store.get_tracklet(t.tracklet_id)
    assert light.crops_jpeg == () and light.embedding is not None
    assert store.crops(t.tracklet_id) == list(t.crops_jpeg)
    assert store.get_tracklet("cam2:nope:1") is None
    with pytest.raises(StoreError, match="cam2:nope:1"):
        store.crops("cam2:nope:1")


def test_duplicate_delivery_is_a_no_op(store):
    t = make_tracklet(1)
    assert store.put_tracklet(t) is True
    pack = store.store_dir / store.crop_files.rel_path(t.camera_id, t.tracklet_id)
    mtime = pack.stat().st_mtime_ns
    other = make_tracklet(2)
    assert store.put_tracklets([t, other, other]) == [False, True, False]
    assert pack.stat().st_mtime_ns == mtime
    assert store.stats().tracklets == 2 and store.stats().embeddings == 2


def test_tracklet_without_crops_or_embedding(store):
    t = make_tracklet(5, n_crops=0, dim=0, model_version=-1)
    assert store.put_tracklet(t)
    back = store.get_tracklet(t.tracklet_id, with_crops=True)
    assert back.crops_jpeg == () and back.embedding is None and back.model_version == -1
    assert store.crops(t.tracklet_id) == []
    assert store.sightings(0) == []


def test_embeddings_are_kept_per_model_version(store):
    ts = [make_tracklet(i, model_version=0) for i in range(4)]
    store.put_tracklets(ts)
    rng = np.random.default_rng(7)
    v1 = {t.tracklet_id: rng.normal(size=32).astype(np.float16) for t in ts[:3]}
    store.put_embeddings(1, v1)
    e0, e1 = store.embeddings(0), store.embeddings(1)
    assert e0.ids == tuple(sorted(t.tracklet_id for t in ts)) and e0.vectors.shape == (4, 16)
    assert e1.vectors.dtype == np.float32 and e1.vectors.shape == (3, 32)
    for tid, vec in v1.items():
        np.testing.assert_array_equal(e1.as_dict()[tid], vec.astype(np.float32))
    assert store.get_tracklet(ts[0].tracklet_id).model_version == 1          # newest by default
    assert store.get_tracklet(ts[0].tracklet_id, model_version=0).embedding.shape == (16,)
    assert store.get_tracklet(ts[0].tracklet_id, model_version=1).embedding.dtype == np.float16
    assert store.embeddings(1, ids=[ts[2].tracklet_id, "unknown"]).ids == (ts[2].tracklet_id,)
    with pytest.raises(StoreError, match="unknown"):
        store.put_embedding("cam1:s0:unknown", 1, np.ones(32, np.float32))
    with pytest.raises(StoreError, match="NaN"):
        store.put_embedding(ts[0].tracklet_id, 2, np.array([1.0, np.nan], np.float32))
    assert store.embeddings(2).ids == ()


def test_links_upsert_retract_and_validation(store):
    a, b, c = (make_tracklet(i, camera_id=f"cam{i}") for i in range(3))
    store.put_tracklets([a, b, c])
    store.upsert_links([LinkRow(b.tracklet_id, a.tracklet_id, 0.4, 0.5, 0.8, "provisional", 0),
                        LinkRow(a.tracklet_id, c.tracklet_id, 0.9, 1.2, 0.75, "provisional", 0)])
    store.upsert_links([LinkRow(a.tracklet_id, b.tracklet_id, 0.3, 0.35, 0.85, "final", 1)])
    links = {link.pair: link for link in store.links()}
    ab = links[(a.tracklet_id, b.tracklet_id)]
    assert (ab.feature_distance, ab.joint_distance, ab.r, ab.status, ab.model_version) == (0.3, 0.35, 0.85, "final", 1)
    assert store.retract_links([(c.tracklet_id, a.tracklet_id)]) == 1
    assert [link.pair for link in store.links()] == [(a.tracklet_id, b.tracklet_id)]
    assert [link.status for link in store.links(("retracted",))] == ["retracted"]
    assert [link.pair for link in store.links(("final",), tracklet_ids=[b.tracklet_id])] == [ab.pair]
    with pytest.raises(StoreError, match="ghost"):
        store.upsert_links([LinkRow(a.tracklet_id, "cam9:x:ghost", 0.1, 0.1, 1.0)])
    with pytest.raises(StoreError, match="status"):
        LinkRow("x", "y", 0.1, 0.1, 1.0, status="maybe")
    assert len(store.links(("provisional", "final", "retracted"))) == 2     # failed batch rolled back


def test_identities_history_sightings_and_lookup(store):
    a, b = make_tracklet(0, camera_id="cam1"), make_tracklet(1, camera_id="cam2", local_track_id=0)
    store.put_tracklets([a, b])
    assert store.set_identities({a.tracklet_id: 7, b.tracklet_id: 8}) == 2
    assert store.set_identities({b.tracklet_id: 7}, status="final") == 1
    assert store.identity_of(b.tracklet_id) == 7 and store.identity_of("nope") is None
    assert [h[:2] for h in store.identity_history(b.tracklet_id)] == [(None, 8), (8, 7)]
    sights = store.sightings(7)
    assert [(s.tracklet_id, s.camera_id, s.status, s.evicted) for s in sights] == [
        (a.tracklet_id, "cam1", "provisional", False), (b.tracklet_id, "cam2", "final", False)]
    assert sights[0].thumbnail_jpeg[:2] == b"\xff\xd8" and sights[0].t_start_s == a.t_start_s
    assert store.sightings(8) == []
    assert store.mark_final([a.tracklet_id]) == 1
    assert {s.status for s in store.sightings(7)} == {"final"}
    assert store.find_by_camera_track("cam2", 0) == [b.tracklet_id]
    assert store.find_by_camera_track("cam1", 0) == [a.tracklet_id]
    with pytest.raises(StoreError, match="never held"):
        store.set_identities({a.tracklet_id: 9, "cam5:x:1": 9})
    assert store.identity_of(a.tracklet_id) == 7                  # all or nothing
    with pytest.raises(StoreError, match="non-negative int"):
        store.set_identities({a.tracklet_id: -1})


def test_kv_and_load_window(store):
    ts = [make_tracklet(i, camera_id=f"cam{i % 2}", t_start_s=100.0 + 10 * i) for i in range(6)]
    store.put_tracklets(ts)
    store.put_embeddings(1, {t.tracklet_id: np.full(8, i, np.float32) for i, t in enumerate(ts[:5])})
    store.kv_set(KV_MODEL_VERSION, 1)
    store.kv_set("last_train_round", {"round": 3, "pairs": [1, 2]})
    assert store.kv_get("last_train_round") == {"round": 3, "pairs": [1, 2]}
    assert store.kv_get("missing", 5) == 5
    with pytest.raises(StoreError, match="JSON"):
        store.kv_set("bad", object())
    store.upsert_links([LinkRow(ts[1].tracklet_id, ts[4].tracklet_id, 0.2, 0.3, 0.9),
                        LinkRow(ts[0].tracklet_id, ts[1].tracklet_id, 0.2, 0.3, 0.9)])
    store.set_identities({ts[1].tracklet_id: 41, ts[4].tracklet_id: 41, ts[0].tracklet_id: 50})
    store.mark_final([ts[4].tracklet_id])
    store.set_identities({ts[0].tracklet_id: 41})              # 50 is history now, still reserved
    win = store.load_window(t_from_s=125.0)
    assert win.model_version == 1
    assert [t.tracklet_id for t in win.tracklets] == [t.tracklet_id for t in ts[3:]]
    assert [t.model_version for t in win.tracklets] == [1, 1, -1]       # ts[5] needs re-embedding
    assert win.tracklets[0].embedding[0] == 3.0
    assert [link.pair for link in win.links] == [tuple(sorted((ts[1].tracklet_id, ts[4].tracklet_id)))]
    assert win.identities == {ts[4].tracklet_id: 41} and win.final_ids == {ts[4].tracklet_id}
    assert win.next_identity_id == 51
    assert [t.tracklet_id for t in store.tracklets_between(105.0, 125.0, camera_id="cam1")] == [
        ts[1].tracklet_id]
    assert [t.tracklet_id for t in store.tracklets_between(105.0, 125.0)] == [
        t.tracklet_id for t in ts[1:3]]


def test_reopen_keeps_everything(tmp_path):
    t = make_tracklet(0)
    with Store.open(tmp_path) as s:
        s.put_tracklet(t)
        s.set_identities({t.tracklet_id: 3})
        s.kv_set("k", [1])
    with Store.open(tmp_path) as s:
        assert s.put_tracklet(t) is False
        assert s.identity_of(t.tracklet_id) == 3 and s.kv_get("k") == [1]
        assert s.crops(t.tracklet_id) == list(t.crops_jpeg)
        stats = s.stats()
        pack = tmp_path / s.crop_files.rel_path(t.camera_id, t.tracklet_id)
        assert stats.tracklets == 1 and stats.identities == 1 and stats.crop_bytes == pack.stat().st_size


def test_single_crop_reads_and_torn_pack_is_detected(store):
    t = make_tracklet(4, n_crops=5)
    store.put_tracklet(t)
    assert [store.crop(t.tracklet_id, i) for i in (4, 0, 2)] == [t.crops_jpeg[i] for i in (4, 0, 2)]
    with pytest.raises(StoreError, match="no index 5"):
        store.crop(t.tracklet_id, 5)
    pack = store.store_dir / store.crop_files.rel_path(t.camera_id, t.tracklet_id)
    pack.write_bytes(pack.read_bytes()[:-10])                # a disk that lost the tail
    with pytest.raises(StoreError, match="bytes, header says"):
        store.crops(t.tracklet_id)
    with pytest.raises(StoreError, match="truncated"):
        store.crop(t.tracklet_id, 4)
    assert store.crop(t.tracklet_id, 0) == t.crops_jpeg[0]
    problems = store.integrity_check()
    assert len(problems) == 1 and t.tracklet_id in problems[0]
    pack.unlink()
    with pytest.raises(StoreError, match="unreadable"):
        store.crops(t.tracklet_id)


def test_failed_batch_rolls_back_rows_and_packs(store, monkeypatch):
    """A write that fails (disk full, I/O error) leaves neither rows nor crop packs behind."""
    import sqlite3

    from tastr_stream.store import writes

    real = writes.insert_tracklet
    calls = []

    def flaky(conn, t, *args):
        calls.append(t.tracklet_id)
        if len(calls) == 2:
            raise sqlite3.OperationalError("database or disk is full")
        real(conn, t, *args)

    monkeypatch.setattr(writes, "insert_tracklet", flaky)
    with pytest.raises(StoreError, match="disk is full"):
        store.put_tracklets([make_tracklet(0), make_tracklet(1)])
    monkeypatch.setattr(writes, "insert_tracklet", real)
    assert store.stats().tracklets == 0
    assert not any((store.store_dir / "crops" / "cam1").iterdir())
    assert store.put_tracklets([make_tracklet(0), make_tracklet(1)]) == [True, True]
