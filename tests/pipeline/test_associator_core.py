"""The associator core: store-then-associate, equivalence with batch, restart with stable ids.

Guards against: identities renumbered after a restart (users' saved lookups break), links lost
when the associator is killed, and a duplicate delivery counted twice.
"""

from __future__ import annotations

import zlib

import cv2
import numpy as np
import pytest

from tastr_stream.associate import batch_associate
from tastr_stream.config import config_from_dict
from prometheus_client import CollectorRegistry

from tastr_stream.pipeline.associator import AssociatorCore, RejectedTracklet
from tastr_stream.serve.metrics import AssociatorMetrics
from tastr_stream.store import Store
from tastr_stream.wire import Tracklet

from ..associate.world import CAMERAS, TRANSFER_S, make_world


def app_config(tmp_path):
    return config_from_dict({
        "network": {
            "cameras": [{"id": c} for c in CAMERAS],
            "paths": [{"a": a, "b": b, "transfer_s": t} for (a, b), t in TRANSFER_S.items()],
        },
        "associator": {"store_dir": str(tmp_path / "store"), "window": {"window_s": 10_000, "allowed_lateness_s": 10_000}},
        "ingest": {"embed": {"emb_dim": 16}},
        "trainer": {"emb_dim": 16},
    })


JPEG = bytes(cv2.imencode(".jpg", np.full((64, 32, 3), 120, np.uint8))[1])


def as_tracklet(meta) -> Tracklet:
    n = 1 + zlib.crc32(meta.tracklet_id.encode()) % 4      # crops weigh fragments in a visit's feature
    return Tracklet(
        tracklet_id=meta.tracklet_id, camera_id=meta.camera_id, local_track_id=1,
        t_start_s=meta.t_start_s, t_end_s=meta.t_end_s,
        frame_times_s=np.array([meta.t_start_s, meta.t_end_s]),
        boxes_xyxy=np.array([[0, 0, 10, 20], [1, 0, 11, 20]], dtype=np.float32),
        crops_jpeg=(JPEG,) * n, crop_times_s=np.linspace(meta.t_start_s, meta.t_end_s, n),
        embedding=meta.feature, model_version=0)


@pytest.fixture
def world():
    return make_world(seed=7, n_ids=14, emb_dim=16)


def test_core_equals_batch_and_persists_links_and_identities(tmp_path, world):
    cfg = app_config(tmp_path)
    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(cfg, store)
        order = np.random.default_rng(1).permutation(len(world))
        for i in order:
            assert core.receive(as_tracklet(world[i])) is True
        assert core.receive(as_tracklet(world[order[0]])) is False, "duplicate delivery must be a no-op"
        batch = batch_associate(world, core.prior, cfg.associator.association)
        assert {p.key for p in core.assoc.links()} == {p.key for p in batch.pairs}
        stored_links = {l.pair for l in store.links()}
        assert {tuple(sorted(p.key)) for p in batch.pairs} <= stored_links
        live_ids = core.identities()
        for tid, ident in live_ids.items():
            assert store.identity_of(tid) == ident
        core.finalize()


def test_restart_restores_window_links_and_identity_ids(tmp_path, world):
    cfg = app_config(tmp_path)
    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(cfg, store)
        for meta in sorted(world, key=lambda m: m.t_end_s):
            core.receive(as_tracklet(meta))
        core.finalize()                 # what the daemon's tick does: decide the links users see
        before_links = {p.key for p in core.assoc.links()}
        before_ids = core.identities()
        before_weights = {tid: m.n_crops for tid, m in core.linker.metas.items()}
    assert len(set(before_weights.values())) > 1
    registry = CollectorRegistry()
    with Store.open(tmp_path / "store") as store:
        core2 = AssociatorCore(cfg, store, metrics=AssociatorMetrics(registry))
        assert core2.restore() == len(world)
        assert {p.key for p in core2.assoc.links()} == before_links
        assert core2.identities() == before_ids, "identity ids must survive a restart"
        # Fragments weigh in a visit's feature by their crops, after a restart as before it.
        assert {tid: m.n_crops for tid, m in core2.linker.metas.items()} == before_weights
        # What the site taught (transfer times, sides of the pictures) survives it too.
        assert core2.transfer.to_json() == core.transfer.to_json() and core.transfer.to_json()
        assert core2.linker.zones.to_json() == core.linker.zones.to_json()
    # The gauges describe the restored window before any new tracklet arrives.
    assert registry.get_sample_value("tastr_assoc_identities") == len(set(before_ids.values()))


def test_unknown_camera_rejected(tmp_path, world):
    cfg = app_config(tmp_path)
    bad = as_tracklet(world[0])
    import dataclasses

    bad = dataclasses.replace(bad, camera_id="cam99", tracklet_id="cam99:x:1")
    with Store.open(tmp_path / "store") as store:
        with pytest.raises(RejectedTracklet, match="cam99"):
            AssociatorCore(cfg, store).receive(bad)


def test_other_model_version_is_reembedded_not_compared(tmp_path, world):
    cfg = app_config(tmp_path)
    calls = []

    def embed(crops):
        calls.append(len(crops))
        return np.ones(16, np.float32), 0

    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(cfg, store, embed_crops=embed)
        import dataclasses

        core.receive(as_tracklet(world[0]))
        core.note_version(5)                    # announced: the edge box swapped before the associator
        core.receive(dataclasses.replace(as_tracklet(world[1]), model_version=5))
        assert calls == [len(as_tracklet(world[1]).crops_jpeg)]
        assert all(m.model_version == 0 for m in core.assoc.tracklets())


def test_bad_tracklets_are_refused_before_anything_is_stored(tmp_path, world):
    """Guards against issue 13: a tracklet with another embedding dimension, or stamped far in the
    future, was stored, then broke association, and every restart re-read it and died again."""
    import dataclasses

    cfg = app_config(tmp_path)
    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(cfg, store)
        core.receive(as_tracklet(world[0]))
        wrong_dim = dataclasses.replace(as_tracklet(world[1]), embedding=np.ones(32, np.float32))
        with pytest.raises(RejectedTracklet, match=r"\(16,\)") as err:
            core.receive(wrong_dim)
        assert err.value.reason == "embedding_dim"
        future = dataclasses.replace(as_tracklet(world[2]), t_start_s=1e9, t_end_s=1e9 + 5,
                                     frame_times_s=np.array([1e9, 1e9 + 5]))
        with pytest.raises(RejectedTracklet, match="clock") as err:
            core.receive(future)
        assert err.value.reason == "clock"
        assert store.get_tracklet(wrong_dim.tracklet_id) is None and store.get_tracklet(future.tracklet_id) is None
        assert core.receive(as_tracklet(world[3])) is True          # and the next good one is associated
    with Store.open(tmp_path / "store") as store:
        assert AssociatorCore(cfg, store).restore() == 2           # a restart sees only the good ones
