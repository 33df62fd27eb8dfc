"""A tracklet's embedding averages at most ``[model] crops_per_tracklet`` crops, the same ones
wherever it is made.

Guards against: the edge and the associator's re-embedding averaging different crops (one
tracklet, one model, two embeddings), and embedding work that grows with every crop kept.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tastr_stream.config import config_from_dict
from tastr_stream.config.ingest import DetectConfig, IngestConfig
from tastr_stream.config.model import ModelConfig
from tastr_stream.datasets.synthetic import SyntheticWorld
from tastr_stream.decode import DecodeWorker, FileSource
from tastr_stream.detect import make_detector
from tastr_stream.models.checkpoint import initial_model
from tastr_stream.pipeline.associator import AssociatorCore
from tastr_stream.pipeline.ingest import IngestPipeline
from tastr_stream.pipeline.reembed import CropEmbedder
from tastr_stream.store import Store
from tastr_stream.tracklet.builder import crops_to_embed
from tastr_stream.tracklet.extractor import BackgroundExtractor, Extractor

from ..associate.world import make_world
from .test_associator_core import JPEG, app_config, as_tracklet


def test_the_rule_spreads_k_crops_evenly_and_keeps_short_tracklets_whole():
    crops = [bytes([i]) for i in range(30)]
    assert crops_to_embed(crops, 8) == [bytes([i]) for i in (0, 4, 8, 12, 17, 21, 25, 29)]
    assert crops_to_embed(crops[:5], 8) == crops[:5]
    assert crops_to_embed(crops, 1) == [crops[0]]
    assert ModelConfig().crops_per_tracklet == 60           # every crop a tracklet keeps, by default


def test_the_edge_embeds_k_crops_and_the_associator_re_embeds_the_same_ones(small_world):
    world = SyntheticWorld.open(small_world)
    cam, k = world.camera_ids[0], 4
    cfg = IngestConfig(detect=DetectConfig(backend="oracle", rate_hz=0.0))
    model, version = initial_model("tiny", 16)
    background = BackgroundExtractor(Extractor(lambda: model, batch_size=8, version=version)).start()
    published = []
    pipe = IngestPipeline(cam, cfg, make_detector(cfg.detect, world=world, camera_id=cam), background,
                          published.append, crops_per_tracklet=k)
    worker = DecodeWorker(FileSource(world.video_path(cam), cam), 8, drop_oldest=False).start()
    try:
        for frame in worker:
            pipe.process(frame)
        pipe.finish()
    finally:
        worker.stop()
        background.stop()
    long_ones = [t for t in published if len(t.crops_jpeg) > k]
    assert long_ones, "no tracklet with more crops than the rule embeds"
    assert background.stats()["crops"] == sum(min(len(t.crops_jpeg), k) for t in published)
    reembed = CropEmbedder.from_model(model, version, device="cpu")
    for t in long_ones:
        again, got = reembed(crops_to_embed(t.crops_jpeg, k))
        assert got == version
        np.testing.assert_allclose(t.embedding, again, rtol=1e-4, atol=1e-5)
        every, _ = reembed(list(t.crops_jpeg))
        assert not np.allclose(t.embedding, every, rtol=1e-4, atol=1e-5)     # not the mean of all of them


@pytest.mark.parametrize("k", [2, 8])
def test_the_associator_re_embeds_a_stored_tracklet_from_the_rule_s_crops(tmp_path, k):
    """A tracklet of another model version is re-embedded from at most k of its crops."""
    world = make_world(seed=7, n_ids=3, emb_dim=16)
    calls = []

    def embed(crops):
        calls.append(len(crops))
        return np.ones(16, np.float32), 0

    raw = app_config(tmp_path).model_dump()
    raw["model"]["crops_per_tracklet"] = k
    cfg = config_from_dict(raw)
    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(cfg, store, embed_crops=embed)
        t = dataclasses.replace(as_tracklet(world[0]), crops_jpeg=(JPEG,) * 5,
                                crop_times_s=np.linspace(0, 1, 5) + world[0].t_start_s, model_version=5)
        core.note_version(5)
        core.receive(t)
    assert calls == [min(5, k)]
