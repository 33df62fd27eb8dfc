"""The live trainer's library side: store -> training tracklets and pairs -> one round -> a
verified, versioned checkpoint; and the train-request wire.

Guards against: a live round training on within-camera relinks or on undecodable crops, a round
that half-trains the serving model and then fails, a corrupt newest checkpoint taking the trainer
down at restart, versions going backwards, and a train request that blocks the associator when
the trainer is absent.
"""

from __future__ import annotations

import threading
import time

import msgpack
import numpy as np
import pytest
import torch
import zmq

from tastr_stream.config.associator import Association
from tastr_stream.config.trainer import TrainerConfig
from tastr_stream.errors import SamplerError, WireError
from tastr_stream.models import build_reid_model, model_from_checkpoint
from tastr_stream.store import LinkRow, Store
from tastr_stream.train.live import (BudgetedSampler, RoundAborted, ServingModel, checkpoint_versions,
                                     cross_camera_pairs, next_version, run_live_round, serving_model,
                                     tracklets_from_store)
from tastr_stream.wire.requests import (TrainRequest, TrainRequestReceiver, TrainRequestSender,
                                        decode_request, encode_request)

from ..store.synth import jpeg, make_tracklet
from ..services.daemons import free_port

CPU = torch.device("cpu")
CAMS = ("camA", "camB")
N_PEOPLE = 6


def live_cfg(**kw) -> TrainerConfig:
    base = dict(backbone="tiny", emb_dim=16, p=2, k=2, tsccc_gap_s=1.0, epochs_per_round=2,
                max_batches_per_round=3, image_height=64, image_width=32, device="cpu", max_images_per_tracklet=4)
    return TrainerConfig(**{**base, **kw})


@pytest.fixture
def store_dir(tmp_path):
    """Six people, each seen in camA then camB 5 s later; one within-camera relink; one tracklet
    whose only crop is not a JPEG."""
    d = tmp_path / "store"
    with Store.open(d) as st:
        for p in range(N_PEOPLE):
            st.put_tracklet(make_tracklet(p, "camA", t_start_s=10.0 * p, n_crops=6))
            st.put_tracklet(make_tracklet(100 + p, "camB", t_start_s=10.0 * p + 5.0, n_crops=3))
        bad = make_tracklet(999, "camA", t_start_s=500.0, n_crops=1)
        st.put_tracklet(type(bad)(**{**bad.__dict__, "crops_jpeg": (b"not a jpeg",)}))
        st.upsert_links([LinkRow(f"camA:s0:{p}", f"camB:s0:{100 + p}", 0.1, 0.1, 1.0) for p in range(N_PEOPLE)])
        st.upsert_links([LinkRow("camA:s0:0", "camA:s0:1", 0.2, 0.2, 1.0)])        # a relink: not for TCCPC
        st.kv_set("newest_event_s", 60.0)
    return d


def test_tracklets_and_pairs_from_store(store_dir):
    with Store.open(store_dir, read_only=True) as st:
        tracklets = tracklets_from_store(st, max_images=4, seed=0)
        ids = [t.tracklet_id for t in tracklets]
        assert len(ids) == 2 * N_PEOPLE and "camA:s0:999" not in ids, "undecodable-only tracklet skipped"
        assert all(t.num_images == (4 if t.camera_id == "camA" else 3) for t in tracklets)
        img = tracklets[0].images[1]
        assert img.dtype == np.uint8 and img.shape == (64, 32, 3)
        pairs = cross_camera_pairs(st, tracklets)
        assert len(pairs) == N_PEOPLE
        assert all(tracklets[a].camera_id != tracklets[b].camera_id for a, b in pairs)
        recent = tracklets_from_store(st, max_images=4, window_s=12.0)     # newest_event_s 60 -> from 48 s
        assert {t.tracklet_id for t in recent} == {"camA:s0:5", "camB:s0:105"}


def test_round0_then_cross_round_publish_verified_versions(store_dir, tmp_path):
    cfg, ckpt = live_cfg(), tmp_path / "ckpt"
    with Store.open(store_dir, read_only=True) as st:
        tracklets = tracklets_from_store(st, cfg.max_images_per_tracklet)
        pairs = cross_camera_pairs(st, tracklets)
        start = serving_model(ckpt, "tiny", 16)
        assert start.version == 0 and start.announcement is None
        before = {k: v.clone() for k, v in start.model.state_dict().items()}
        v1 = next_version(start.version, st, ckpt)
        assert v1 == 1
        r1 = run_live_round(start, v1, tracklets, [], cfg, Association(), CPU, ckpt)
        assert r1.kind == "within" and r1.stats.steps == 3, "the batch budget caps the round"
        assert all(torch.equal(before[k], v) for k, v in start.model.state_dict().items()), \
            "the serving model is never trained in place"
        ann = r1.announcement
        model, header = model_from_checkpoint(ann.path, ann.sha256, backbone="tiny", emb_dim=16)
        assert header["version"] == ann.version == 1 and header["config"]["trainer"]["p"] == 2
        frozen = header["config"]
        assert frozen["round_kind"] == "within" and frozen["num_train_tracklets"] == 2 * N_PEOPLE
        trained = {k: v for k, v in model.state_dict().items() if v.dtype.is_floating_point}
        assert any(not torch.equal(before[k], v) for k, v in trained.items()), "round 1 changed no weight"

        r2 = run_live_round(ServingModel(r1.model, 1, ann), next_version(1, st, ckpt), tracklets, pairs, cfg,
                            Association(), CPU, ckpt)
        assert r2.kind == "cross" and r2.announcement.version == 2 and r2.num_pairs == N_PEOPLE
    assert [v for v, _ in checkpoint_versions(ckpt)] == [2, 1]
    again = serving_model(ckpt, "tiny", 16)
    assert again.version == 2 and again.announcement.sha256 == r2.announcement.sha256


def test_corrupt_newest_checkpoint_falls_back_and_versions_keep_rising(store_dir, tmp_path):
    cfg, ckpt = live_cfg(), tmp_path / "ckpt"
    with Store.open(store_dir, read_only=True) as st:
        tracklets = tracklets_from_store(st, 4)
        r1 = run_live_round(serving_model(ckpt, "tiny", 16), 1, tracklets, [], cfg, Association(), CPU, ckpt)
        r2 = run_live_round(ServingModel(r1.model, 1, r1.announcement), 2, tracklets,
                            cross_camera_pairs(st, tracklets), cfg, Association(), CPU, ckpt)
        path = r2.announcement.path
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])                       # a torn newest file
        rejected = []
        start = serving_model(ckpt, "tiny", 16, on_rejected=lambda p, e: rejected.append((p, str(e))))
        assert start.version == 1 and len(rejected) == 1 and "truncated" in rejected[0][1]
        assert next_version(start.version, st, ckpt) == 3, "never reuse a version a file already has"
    with Store.open(store_dir) as st:
        st.kv_set("model_version", 7)                                       # the associator serves 7
    with Store.open(store_dir, read_only=True) as st:
        assert next_version(start.version, st, ckpt) == 8


def test_round_raises_without_enough_data_and_aborts_on_stop(store_dir, tmp_path):
    cfg, ckpt = live_cfg(), tmp_path / "ckpt"
    with Store.open(store_dir, read_only=True) as st:
        tracklets = tracklets_from_store(st, 4)
    start = serving_model(ckpt, "tiny", 16)
    with pytest.raises(SamplerError, match="TSCCC cannot fill"):
        run_live_round(start, 1, tracklets, [], live_cfg(tsccc_gap_s=1e4), Association(), CPU, ckpt)
    trained = ServingModel(start.model, 1, None)
    with pytest.raises(SamplerError, match="TCCPC cannot fill"):
        run_live_round(trained, 2, tracklets, [], cfg, Association(), CPU, ckpt)
    with pytest.raises(SamplerError, match="no stored tracklet"):
        run_live_round(start, 1, [], [], cfg, Association(), CPU, ckpt)
    stop = threading.Event()
    stop.set()
    with pytest.raises(RoundAborted):
        run_live_round(start, 1, tracklets, [], cfg, Association(), CPU, ckpt, stop=stop)
    assert checkpoint_versions(ckpt) == [], "a failed or aborted round publishes nothing"


def test_budgeted_sampler_caps_across_epochs():
    class Five:
        def __len__(self):
            return 5

        def __iter__(self):
            return iter(range(5))

    budget = BudgetedSampler(Five(), 7)
    assert len(budget) == 5
    assert list(budget) == [0, 1, 2, 3, 4] and list(budget) == [0, 1] and list(budget) == []
    assert list(BudgetedSampler(Five(), 0)) == [0, 1, 2, 3, 4]
    with pytest.raises(SamplerError, match="-1"):
        BudgetedSampler(Five(), -1)


# ------------------------------------------------------------------------------ wire
def test_train_requests_roundtrip_and_malformed_are_dropped():
    ctx = zmq.Context()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    receiver = TrainRequestReceiver(endpoint, context=ctx)
    sender = TrainRequestSender(endpoint, context=ctx)
    raw = ctx.socket(zmq.PUSH)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(endpoint)
    try:
        assert sender.send(TrainRequest(round=0, reason="3 new accepted pairs", model_version=0, requested_at_s=5.0))
        raw.send(b"\xc1junk")
        raw.send(msgpack.packb({"schema": 1, "type": "train.request", "body": {"round": -1, "reason": "x",
                                                                                "model_version": 0}}))
        assert sender.send(TrainRequest(round=1, reason="period", model_version=1))
        got, deadline = [], time.monotonic() + 5
        while (len(got) < 2 or receiver.rejected < 2) and time.monotonic() < deadline:
            got += receiver.poll(100)
        assert [(r.round, r.reason, r.model_version) for r in got] == [(0, "3 new accepted pairs", 0),
                                                                        (1, "period", 1)]
        assert got[0].requested_at_s == 5.0 and receiver.rejected == 2
    finally:
        raw.close()
        sender.close()
        receiver.close()
        ctx.destroy(linger=0)


def test_train_request_validation_and_absent_trainer_never_blocks():
    assert decode_request(encode_request(TrainRequest(2, "r", -1, 1.0))) == TrainRequest(2, "r", -1, 1.0)
    for bad in (dict(round=-1), dict(model_version=-2), dict(reason="x" * 300), dict(round=True),
                dict(requested_at_s=float("nan"))):
        with pytest.raises(WireError):
            TrainRequest(**{"round": 0, "reason": "r", "model_version": 0, "requested_at_s": 0.0, **bad})
    with pytest.raises(WireError, match="missing fields"):
        TrainRequest.from_body({"round": 0})
    ctx = zmq.Context()
    sender = TrainRequestSender(f"tcp://127.0.0.1:{free_port()}", context=ctx)     # nobody listening
    try:
        results: list[bool] = []
        sending = threading.Thread(target=lambda: results.extend(sender.send(TrainRequest(i, "r", 0))
                                                                 for i in range(50)))
        sending.start()
        sending.join(timeout=60)
        assert not sending.is_alive() and len(results) == 50, "send must not block on an absent trainer"
        assert not all(results) and sender.dropped == results.count(False) and sender.sent == results.count(True)
    finally:
        sender.close()
        ctx.destroy(linger=0)


def test_jpeg_images_slice_and_bad_crop():
    from tastr_stream.errors import TastrError
    from tastr_stream.train.live import JpegImages

    imgs = JpegImages([jpeg(1), jpeg(2), b"bad"], "t1")
    assert len(imgs[:2]) == 2 and imgs[0].shape == (64, 32, 3)
    with pytest.raises(TastrError, match="t1: stored crop 2"):
        imgs[2]
    assert build_reid_model("tiny", 16).emb_dim == 16


def test_head_recipe_round_trains_only_the_projection_and_stops_in_its_descriptor_pass(store_dir, tmp_path):
    """A "+partcolour" model gets the head recipe: a published round moves the projection and not the
    trunk; a stop set before the round ends it in the descriptor pass, publishing nothing."""
    ckpt = tmp_path / "ckpt"
    cfg = live_cfg().model_copy(update={"backbone": "tiny+partcolour", "head_epochs": 3, "warmup_steps": 0})
    with Store.open(store_dir, read_only=True) as st:
        tracklets = tracklets_from_store(st, 4)
    start = serving_model(ckpt, "tiny+partcolour", 16)
    stop = threading.Event()
    stop.set()
    with pytest.raises(RoundAborted, match="descriptor pass stopped"):
        run_live_round(start, 1, tracklets, [], cfg, Association(), CPU, ckpt, stop=stop)
    assert checkpoint_versions(ckpt) == []
    r1 = run_live_round(start, 1, tracklets, [], cfg, Association(), CPU, ckpt)
    assert r1.stats.steps > 0 and [v for v, _ in checkpoint_versions(ckpt)] == [1]
    assert all(torch.equal(a, b) for a, b in zip(start.model.trunk.state_dict().values(),
                                                  r1.model.trunk.state_dict().values()))
    assert not torch.equal(start.model.proj.weight, r1.model.proj.weight)
