"""The associator core refuses what would poison it, survives stored rows it cannot use, and
forgets one identity in its live window as well as in the store.

Guards against (issue 13): a reused tracklet id silently dropped; a tracklet claiming a model
version that does not exist becoming the served version after a restart; one tracklet whose
crops do not decode freezing every model swap for good; a stored row that breaks association
stopping the daemon at every restart; a forgotten person coming back in a later link or lookup.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from tastr_stream.pipeline.associator import AssociatorCore, RejectedTracklet, first_decodable_crop
from tastr_stream.pipeline.model_switch import ModelSwitch
from tastr_stream.serve.metrics import AssociatorMetrics
from tastr_stream.store import Store

from ..associate.world import make_world
from .test_associator_core import app_config, as_tracklet
from .test_model_switch import GatedEmbedder, ann


class DecodingEmbedder(GatedEmbedder):
    """Like a real model: nothing to embed when no crop decodes."""

    def __call__(self, crops):
        if first_decodable_crop(tuple(crops)) is None:
            return None, self.version
        return super().__call__(crops)


@pytest.fixture
def world():
    return sorted(make_world(seed=7, n_ids=14, emb_dim=16), key=lambda m: (m.t_end_s, m.tracklet_id))


def test_duplicate_id_identical_is_ok_different_is_rejected(tmp_path, world):
    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(app_config(tmp_path), store)
        t = as_tracklet(world[0])
        assert core.receive(t) is True
        assert core.receive(t) is False                                    # a resend: idempotent ok
        assert core.receive(dataclasses.replace(t, model_version=0, embedding=t.embedding * 2)) is False
        reused = dataclasses.replace(t, t_end_s=t.t_end_s + 1.0, frame_times_s=t.frame_times_s + [0.0, 1.0])
        with pytest.raises(RejectedTracklet, match="different content") as err:
            core.receive(reused)
        assert err.value.reason == "duplicate-id-different-content"
        assert store.get_tracklet(t.tracklet_id).t_end_s == t.t_end_s     # the first one stays


def test_unknown_model_version_and_undecodable_crops_are_refused(tmp_path, world):
    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(app_config(tmp_path), store)
        core.receive(as_tracklet(world[0]))
        with pytest.raises(RejectedTracklet, match="model_version 7") as err:
            core.receive(dataclasses.replace(as_tracklet(world[1]), model_version=7))
        assert err.value.reason == "model_version"
        with pytest.raises(RejectedTracklet, match="none of its 2 crops") as err:
            core.receive(dataclasses.replace(as_tracklet(world[2]), crops_jpeg=(b"\xff\xd8junk", b"x"),
                                             crop_times_s=np.zeros(0)))
        assert err.value.reason == "crops_undecodable"
        assert store.stats().tracklets == 1
    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(app_config(tmp_path), store)
        core.restore()
        assert core.model_version == 0 and store.kv_get("model_version") == 0
        core.note_version(3)                                               # announced: known from now on
    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(app_config(tmp_path), store)
        core.restore()
        assert core.known_versions == {0, 3}
        assert core.receive(dataclasses.replace(as_tracklet(world[1]), model_version=3)) is True


def test_a_stored_version_never_becomes_the_served_one(tmp_path, world):
    """A v7 embedding in the store (written before validation existed) made a restarted
    associator serve v7 and ignore the real v1 announcement."""
    with Store.open(tmp_path / "store") as store:
        store.put_tracklet(dataclasses.replace(as_tracklet(world[0]), model_version=7))
        core = AssociatorCore(app_config(tmp_path), store, embed_crops=GatedEmbedder(0))
        core.restore()
        assert core.model_version == 0
        switch = ModelSwitch(core, lambda a: GatedEmbedder(1))
        try:
            assert switch.offer(ann(1))
            assert switch.wait(10).version == 1
        finally:
            switch.close()


def test_restore_quarantines_rows_it_cannot_use(tmp_path, world):
    registry = CollectorRegistry()
    with Store.open(tmp_path / "store") as store:
        good = [as_tracklet(m) for m in world[:4]]
        store.put_tracklets(good)
        # Rows stored before validation existed: another box's emb_dim and no usable crop, and a row
        # whose boxes blob is torn.
        store.put_tracklet(dataclasses.replace(as_tracklet(world[4]), embedding=np.ones(32, np.float32),
                                               crops_jpeg=(b"junk",), crop_times_s=np.zeros(0)))
        store.put_tracklet(as_tracklet(world[5]))
        store._writer.execute("UPDATE tracklets SET boxes = x'00' WHERE id = ?", (world[5].tracklet_id,))
        core = AssociatorCore(app_config(tmp_path), store, embed_crops=DecodingEmbedder(0),
                              metrics=AssociatorMetrics(registry))
        assert core.restore() == 4
        assert set(store.quarantined()) == {world[4].tracklet_id, world[5].tracklet_id}
        assert registry.get_sample_value("tastr_assoc_quarantined_total", {"where": "restore"}) == 2
        assert core.receive(as_tracklet(world[6])) is True
    with Store.open(tmp_path / "store") as store:           # quarantined rows stay out, quietly
        assert AssociatorCore(app_config(tmp_path), store, embed_crops=DecodingEmbedder(0)).restore() == 5


def test_a_tracklet_without_decodable_crops_cannot_freeze_model_swaps(tmp_path, world):
    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(app_config(tmp_path), store, embed_crops=GatedEmbedder(0))
        for m in world[:6]:
            core.receive(as_tracklet(m))
        bad = world[2].tracklet_id
        # As if stored before intake checked crops: its pack now holds junk.
        store._writer.execute("UPDATE tracklets SET crop_path = ? WHERE id = ?",
                              (store.crop_files.write("cam1", "junk", (b"junk",))[0], bad))

        switch = ModelSwitch(core, lambda a: DecodingEmbedder(1))
        try:
            assert switch.offer(ann(1))
            done = switch.wait(10)
        finally:
            switch.close()
        assert done is not None and done.version == 1 and core.model_version == 1
        assert bad not in core.window_ids() and len(core.window_ids()) == 5
        assert bad in store.quarantined()


def test_forget_removes_the_identity_from_the_window_and_the_store(tmp_path, world):
    cfg = app_config(tmp_path)
    registry = CollectorRegistry()
    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(cfg, store, metrics=AssociatorMetrics(registry))
        for m in world:
            core.receive(as_tracklet(m))
            core.finalize(now_event_s=m.t_end_s)
        core.finalize(now_event_s=world[-1].t_end_s + 10_000)
        idents = core.identities()
        sizes = {i: sum(1 for v in idents.values() if v == i) for i in set(idents.values())}
        target = max(sizes, key=lambda i: (sizes[i], -i))
        members = {t for t, i in idents.items() if i == target}
        assert len(members) >= 2, "the world should give some identity two sightings"

        out = core.forget(target)

        assert out["found"] and out["window"] == len(members)
        assert out["removed"]["tracklets"] == len(members) and out["removed"]["identities"] == len(members)
        assert not members & set(core.window_ids()) and not members & set(core.linker.metas)
        assert not members & set(core.identities()) and target not in core.identities().values()
        assert all(not members & set(l.key) for l in core.assoc.links() + core.assoc.relinks())
        assert all(not members & set(l.key) for l in core.linker.links())
        assert store.sightings(target) == [] and all(store.get_tracklet(t) is None for t in members)
        assert registry.get_sample_value("tastr_assoc_forgotten_total", {"kind": "tracklets"}) == len(members)
        # A later arrival links among the others only; a resend of a forgotten one is dropped.
        gone = next(m for m in world if m.tracklet_id in members)
        assert core.receive(as_tracklet(gone)) is False
        core.finalize(now_event_s=world[-1].t_end_s + 20_000)
        assert store.get_tracklet(gone.tracklet_id) is None
        assert all(not members & {l.a, l.b} for l in store.links() + store.identity_links())
        assert core.forget(target)["found"] is False
    with Store.open(tmp_path / "store") as store:          # a restart does not bring them back
        core = AssociatorCore(cfg, store)
        assert core.restore() == len(world) - len(members)
        assert target not in core.identities().values()
        assert core.ids.persistent(10**6) > max(idents.values())      # new ids never reuse the forgotten one
