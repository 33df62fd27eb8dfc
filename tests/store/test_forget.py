"""Forgetting one identity everywhere, summary retention, content digests, quarantine, v2 -> v3.

Guards against: a person asked to be forgotten still answering a lookup from a summary, a
thumbnail, an embedding or a link; a forgotten tracklet coming back when an edge box's spool
resends it; a forgotten identity id handed to someone else after a restart; summaries with
thumbnails kept forever; a store of schema v2 that the new code cannot open.
"""

from __future__ import annotations

import sqlite3

import pytest

from tastr_stream.config.associator import Retention
from tastr_stream.store import IdentityLinkRow, LinkRow, Store
from tastr_stream.store.schema import DB_NAME, MIGRATIONS
from tastr_stream.store.writes import content_digest

from .synth import make_tracklet


def _counts(store_dir) -> dict[str, int]:
    conn = sqlite3.connect(store_dir / DB_NAME)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("tracklets", "evicted", "embeddings", "links", "identity_links", "identities",
                          "identity_history", "quarantined", "forgotten")}
    finally:
        conn.close()


def table_mentions(store_dir, ids) -> list[str]:
    """Every (table, column) of the database (but ``forgotten``) that still names one of ``ids``;
    read-only, so it can look beside a running daemon too."""
    conn = sqlite3.connect(f"file:{store_dir / DB_NAME}?mode=ro", uri=True)
    found = []
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            if table == "forgotten":
                continue
            for col in [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]:
                for tid in ids:
                    if conn.execute(f"SELECT count(*) FROM {table} WHERE CAST({col} AS TEXT) = ?", (tid,)).fetchone()[0]:
                        found.append(f"{table}.{col}={tid}")
    finally:
        conn.close()
    return found


def test_forget_removes_every_row_pack_and_thumbnail_and_stays_forgotten(tmp_path):
    ts = [make_tracklet(i, camera_id=f"cam{i % 2}", t_start_s=100.0 + 10 * i) for i in range(6)]
    ids = [t.tracklet_id for t in ts]
    person, other = ids[:3], ids[3:]
    with Store.open(tmp_path, Retention(max_age_s=35, summary_max_age_s=10_000)) as store:
        store.put_tracklets(ts)
        store.put_embeddings(1, {ids[1]: ts[1].embedding})          # a second model version
        store.set_identities({person[0]: 7, person[1]: 7, person[2]: 7, other[0]: 8, other[1]: 8, other[2]: 9})
        store.set_identities({person[2]: 7, other[2]: 7})            # history: other[2] was 9, then 7 ...
        store.set_identities({other[2]: 9})                          # ... and 9 again (not forgotten)
        store.upsert_links([LinkRow(person[0], person[1], 0.1, 0.2, 0.9), LinkRow(person[1], other[0], 0.3, 0.4, 0.8),
                            LinkRow(other[0], other[1], 0.1, 0.1, 1.0)])
        store.upsert_identity_links([IdentityLinkRow(person[0], person[1], "cross", "final", 0.9, 0),
                                     IdentityLinkRow(person[1], other[0], "cross", "retracted", 0.7, 0)])
        store.enforce_retention(now_s=140.0)                         # person[0] (t_end 100.5) is a summary now
        assert store.sightings(7)[0].evicted and store.sightings(7)[0].thumbnail_jpeg
        packs = [tmp_path / store.crop_files.rel_path(t.camera_id, t.tracklet_id) for t in ts[:3]]
        assert [p.exists() for p in packs] == [False, True, True]

        report = store.forget(7)

        assert report.removed == {"tracklets": 2, "summaries": 1, "crop_packs": 2, "crops": 6, "thumbnails": 3,
                                  "embeddings": 3, "links": 1, "identity_links": 1, "identities": 3,
                                  "identity_history": 3, "quarantined": 0}
        assert not any(p.exists() for p in packs)
        assert store.sightings(7) == [] and all(store.identity_of(t) is None for t in person)
        assert all(store.get_tracklet(t) is None for t in person)
        assert store.find_by_camera_track("cam0", 0) == [] and store.find_by_camera_track("cam1", 1) == []
        assert set(store.embeddings(0).ids) == set(other) and set(store.embeddings(1).ids) == set()
        assert [l.pair for l in store.links()] == [tuple(sorted((other[0], other[1])))]
        assert store.identity_links(statuses=("provisional", "final", "retracted")) == []
        assert [s.tracklet_id for s in store.sightings(8)] == other[:2]  # others untouched
        assert table_mentions(tmp_path, person) == []
        assert store.put_tracklets(ts[:3]) == [False] * 3              # a spool's resend stores nothing
        assert store.stored_content(person[1]).where == "forgotten"
        assert store.forget(7).found is False                          # nothing left: all zero
        assert store.integrity_check() == []
    c = _counts(tmp_path)
    assert (c["tracklets"], c["evicted"], c["forgotten"]) == (3, 0, 3)
    with Store.open(tmp_path) as store:                                # the id is never reused
        assert store.load_window(-1e18).next_identity_id == 10
        assert store.sightings(7) == []


def test_forget_of_extra_window_ids_and_identity_floor(tmp_path):
    ts = [make_tracklet(i) for i in range(3)]
    with Store.open(tmp_path) as store:
        store.put_tracklets(ts)
        store.set_identities({ts[0].tracklet_id: 41})
        # The live window knows ts[1] belongs to 41 too, before the store was told.
        report = store.forget(41, extra_ids=[ts[1].tracklet_id])
        assert (report.tracklets, report.identities) == (2, 1)
        assert store.load_window(-1e18).next_identity_id == 42
        assert [t.tracklet_id for t in store.load_window(-1e18).tracklets] == [ts[2].tracklet_id]


def test_summaries_expire_after_summary_max_age(tmp_path):
    ts = [make_tracklet(i, t_start_s=100.0 + 100 * i) for i in range(4)]   # ends 100.5, 200.5, 300.5, 400.5
    ids = [t.tracklet_id for t in ts]
    with Store.open(tmp_path, Retention(max_age_s=50, summary_max_age_s=250)) as store:
        store.put_tracklets(ts)
        store.set_identities({ids[0]: 3, ids[1]: 3, ids[2]: 4, ids[3]: 4})
        report = store.enforce_retention(now_s=420.0)   # tracklets ending before 370 -> summaries; before 170 gone
        assert (report.evicted_by_age, report.summaries_expired) == (3, 1)
        assert [s.tracklet_id for s in store.sightings(3)] == [ids[1]]
        report = store.enforce_retention(now_s=620.0)   # summaries ending before 370 go; ids[3] is a summary now
        assert (report.evicted_by_age, report.summaries_expired) == (1, 2)
        assert store.sightings(3) == [] and [s.tracklet_id for s in store.sightings(4)] == [ids[3]]
        assert store.stats().evicted == 1 and store.identity_of(ids[0]) is None
        assert store.identity_history(ids[1]) == []
        assert store.load_window(-1e18).next_identity_id == 5    # 3 and 4 stay taken
    with pytest.raises(ValueError, match="summary_max_age_s=10 is shorter than max_age_s=50"):
        Retention(max_age_s=50, summary_max_age_s=10)
    assert Retention().summary_max_age_s == 30 * 86_400


def test_content_digest_tells_a_resend_from_a_reused_id(tmp_path):
    t = make_tracklet(1)
    same = make_tracklet(1, model_version=3)                 # re-embedded resend: same observation
    other = make_tracklet(1, t_start_s=500.0)                # same id, another observation
    assert content_digest(t) == content_digest(same) != content_digest(other)
    with Store.open(tmp_path, Retention(max_age_s=10, summary_max_age_s=10_000)) as store:
        assert store.stored_content(t.tracklet_id) is None
        store.put_tracklet(t)
        got = store.stored_content(t.tracklet_id)
        assert (got.where, got.digest, got.camera_id, got.t_start_s) == ("live", content_digest(t), "cam1", t.t_start_s)
        store.enforce_retention(now_s=1000.0)
        assert store.stored_content(t.tracklet_id).where == "evicted"
        assert store.stored_content(t.tracklet_id).digest == content_digest(t)


def test_quarantine_and_unreadable_rows_leave_the_window(tmp_path):
    ts = [make_tracklet(i) for i in range(3)]
    with Store.open(tmp_path) as store:
        store.put_tracklets(ts)
        assert store.quarantine({ts[0].tracklet_id: "embedding_dim: 32 != 16", "never-stored": "x"}) == 1
        store._writer.execute("UPDATE tracklets SET boxes = x'00' WHERE id = ?", (ts[1].tracklet_id,))
        loaded = store.load_window(-1e18, 0)
        assert [t.tracklet_id for t in loaded.tracklets] == [ts[2].tracklet_id]
        assert [u[0] for u in loaded.unreadable] == [ts[1].tracklet_id]
        assert store.quarantined() == {ts[0].tracklet_id: "embedding_dim: 32 != 16"}


def test_a_v2_store_migrates_to_v3_and_keeps_its_rows(tmp_path):
    from tastr_stream.store.blobs import boxes_to_blob, f64_to_blob

    conn = sqlite3.connect(tmp_path / DB_NAME)
    for stmts in MIGRATIONS[:2]:
        for stmt in stmts:
            conn.execute(stmt)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (2)")
    t = make_tracklet(0, n_crops=0)
    conn.execute("INSERT INTO tracklets (id, camera_id, local_track_id, t_start_s, t_end_s, n_frames, frame_times, "
                 "boxes, crop_times, n_crops, crop_path, crop_bytes, thumb_jpeg, wire_model_version, received_at_s) "
                 "VALUES (?, 'cam1', 0, ?, ?, 6, ?, ?, ?, 0, NULL, 0, NULL, 0, 0)",
                 (t.tracklet_id, t.t_start_s, t.t_end_s, f64_to_blob(t.frame_times_s), boxes_to_blob(t.boxes_xyxy),
                  f64_to_blob(t.crop_times_s)))
    conn.commit()
    conn.close()
    with Store.open(tmp_path) as store:
        got = store.stored_content(t.tracklet_id)
        assert (got.where, got.digest, got.local_track_id) == ("live", None, 0)
        store.set_identities({t.tracklet_id: 5})
        assert store.forget(5).tracklets == 1
