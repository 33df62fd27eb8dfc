"""ModelSwitch: the associator's window moves to a new model off its loop, atomically.

Guards against: a swap that blocks intake for the whole re-embedding, two model versions compared
in one window, a tracklet that arrived during the re-embedding left on the old version, and a bad
checkpoint retried (and re-logged) at every repeat of its announcement.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tastr_stream.models.checkpoint import CORRUPT, CheckpointRejected
from tastr_stream.pipeline.associator import AssociatorCore
from tastr_stream.pipeline.model_switch import ModelSwitch
from tastr_stream.store import Store
from tastr_stream.wire.records import WeightsAnnouncement

from ..associate.world import make_world
from .test_associator_core import app_config, as_tracklet


def ann(version: int, sha: str = "ab" * 32) -> WeightsAnnouncement:
    return WeightsAnnouncement(version=version, path=f"/nowhere/v{version}.ckpt", sha256=sha,
                               backbone="tiny", emb_dim=16)


class GatedEmbedder:
    """Embeds crops as a fixed vector per version; blocks until ``gate`` is set (a slow model)."""

    def __init__(self, version: int, gate: threading.Event | None = None):
        self.version, self.gate, self.calls = version, gate, 0

    def __call__(self, crops):
        if self.gate is not None:
            assert self.gate.wait(10), "test gate never opened"
        self.calls += 1
        return np.full(16, float(self.version), np.float32), self.version


@pytest.fixture
def world():
    return make_world(seed=3, n_ids=8, emb_dim=16)


def test_switch_runs_off_the_loop_and_covers_late_arrivals(tmp_path, world):
    metas = sorted(world, key=lambda m: m.t_end_s)
    early, late = metas[:-8], metas[-8:]        # more late arrivals than the loop embeds itself
    gate = threading.Event()
    embedder = GatedEmbedder(1, gate)
    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(app_config(tmp_path), store, embed_crops=GatedEmbedder(0))
        for m in early:
            core.receive(as_tracklet(m))
        switch = ModelSwitch(core, lambda a: embedder)
        assert switch.offer(ann(1)) and switch.busy
        # The loop goes on while the worker is stuck re-embedding: intake still works on version 0.
        for m in late:
            assert core.receive(as_tracklet(m))
        assert switch.poll() is None and core.model_version == 0
        gate.set()
        done = switch.wait(10)
        assert done is not None and done.version == 1 and done.tracklets == len(metas)
        assert embedder.calls == len(metas), "every tracklet embedded once by the new model"
        assert core.model_version == 1
        assert {m.model_version for m in core.assoc.tracklets()} == {1}, "one version in the window"
        assert len(core.assoc.tracklets()) == len(metas), "late arrivals switched too"
        assert store.kv_get("model_version") == 1
        switch.close()


def test_the_switch_worker_loads_and_reembeds_at_the_configured_niceness(tmp_path, world):
    from tastr_stream.background import thread_niceness

    seen = []

    def load(a):
        seen.append((thread_niceness(), threading.get_native_id()))
        return GatedEmbedder(1)

    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(app_config(tmp_path), store, embed_crops=GatedEmbedder(0))
        for m in list(world)[:5]:
            core.receive(as_tracklet(m))
        before = thread_niceness()
        switch = ModelSwitch(core, load, niceness=max(before, 7))
        assert switch.offer(ann(1))
        assert switch.wait(10) is not None
        switch.close()
    (niceness, tid), = seen
    assert tid != threading.get_native_id(), "loaded off the loop's thread"
    assert niceness == switch.worker_niceness == max(before, 7)
    assert thread_niceness() == before, "the loop's own thread keeps its priority"


def test_a_newer_announcement_supersedes_the_one_in_flight(tmp_path, world):
    gate = threading.Event()
    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(app_config(tmp_path), store, embed_crops=GatedEmbedder(0))
        for m in world:
            core.receive(as_tracklet(m))
        switch = ModelSwitch(core, lambda a: GatedEmbedder(a.version, gate))
        assert switch.offer(ann(1))
        assert not switch.offer(ann(1)), "a repeat of the in-flight version is ignored"
        assert switch.offer(ann(2))
        gate.set()
        for _ in range(2):
            done = switch.wait(10)
            if done is not None:
                break
        assert done is not None and done.version == 2 and core.model_version == 2
        assert not switch.offer(ann(1)), "an older version never replaces a newer one"
        switch.close()


def test_unloadable_checkpoint_is_rejected_once_and_the_old_model_serves(tmp_path, world, caplog):
    loads = []

    def load(a):
        loads.append(a.version)
        raise CheckpointRejected(CORRUPT, f"{a.path}: truncated checkpoint")

    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(app_config(tmp_path), store, embed_crops=GatedEmbedder(0))
        for m in world:
            core.receive(as_tracklet(m))
        switch = ModelSwitch(core, load)
        assert switch.offer(ann(5))
        assert switch.wait(10) is None
        [rec] = [r for r in caplog.records if r.getMessage().startswith("announced checkpoint rejected")]
        assert "truncated" in str(rec.kv["error"]) and rec.kv["version"] == 5 and rec.kv["reason"] == CORRUPT
        assert not switch.offer(ann(5)), "the trainer's repeats of a rejected checkpoint are not retried"
        assert core.model_version == 0 and {m.model_version for m in core.assoc.tracklets()} == {0}
        assert switch.offer(ann(5, sha="cd" * 32)), "a different file under the same version is tried"
        switch.wait(10)
        assert loads == [5, 5]
        switch.close()
