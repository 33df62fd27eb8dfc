"""Live weight hot-swap: swaps land between batches, never inside a job, and bad files never land.

Guards against: embeddings of two model versions mixed inside one tracklet (the associator
would compare incomparable vectors), a result stamped with a version other than the weights
that made it, a job lost across a swap, versions going backwards when announcements arrive
out of order, and a truncated/corrupt/mismatched checkpoint replacing a serving model.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from tastr_stream.models import build_reid_model, model_from_checkpoint, publish_checkpoint
from tastr_stream.tracklet.extractor import BackgroundExtractor, Extractor
from tastr_stream.tracklet.hotswap import HANDED_OVER, REJECTED, STALE, WeightSwapper
from tastr_stream.wire.records import WeightsAnnouncement

TIMEOUT_S = 30.0


def _poll(cond, timeout_s: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.001)


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 256, 128, 3), dtype=np.uint8)


class _VersionModel(nn.Module):
    """Every embedding it makes equals its own ``value``: the output names the weights."""

    def __init__(self, value: float, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.tensor(float(value)))
        self.gate = gate
        self.entered = threading.Event()

    def forward(self, x):
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(TIMEOUT_S)
        return torch.zeros(x.shape[0], 4) + self.value


def test_swap_is_held_until_the_split_job_finishes():
    gate = threading.Event()
    first = _VersionModel(0, gate)
    ex = Extractor(lambda: first, device="cpu", batch_size=8)
    batches, events = [], []
    bg = BackgroundExtractor(ex, on_batch=lambda b: events.append(("batch", b.model_version)) or batches.append(b),
                             on_swap=lambda old, new: events.append(("swap", old, new))).start()
    try:
        fa = bg.submit(_images(30, 0), job_id="A")             # 4 batches of 8, 8, 8, 6
        assert first.entered.wait(TIMEOUT_S)                  # A's first batch is in the model
        assert bg.request_swap(ex.prepare(_VersionModel(1)), 1)
        assert not bg.request_swap(ex.prepare(_VersionModel(7)), 1)    # not newer than pending
        fb = bg.submit(_images(5, 1), job_id="B")
        fc = bg.submit(_images(12, 2), job_id="C")
        gate.set()
        a, b, c = (f.result(TIMEOUT_S) for f in (fa, fb, fc))
    finally:
        gate.set()
        bg.stop()
    assert a.model_version == 0 and np.all(a.crop_embeddings == 0)
    assert b.model_version == c.model_version == 1 and np.all(b.crop_embeddings == 1) and np.all(c.crop_embeddings == 1)
    assert [(b.model_version, b.parts) for b in batches] == [
        (0, (("A", 0, 8),)), (0, (("A", 8, 16),)), (0, (("A", 16, 24),)),
        (0, (("A", 24, 30),)),                              # B waits: the swap is pending
        (1, (("B", 0, 5), ("C", 0, 3))), (1, (("C", 3, 11),)), (1, (("C", 11, 12),))]
    assert events.index(("swap", 0, 1)) == 4                 # after A's last batch, before B's first
    assert bg.stats()["swaps"] == 1 and bg.stats()["ignored_swaps"] == 1


def test_swaps_during_a_stream_lose_no_job_and_stamp_the_right_version():
    ex = Extractor(lambda: _VersionModel(0), device="cpu", batch_size=8)
    batches, done = [], []
    rng = np.random.default_rng(7)
    sizes = rng.integers(1, 20, size=60)
    with BackgroundExtractor(ex, max_queued_jobs=6, on_batch=batches.append) as bg:
        futs = []

        def produce() -> None:
            for i, n in enumerate(sizes):
                f = bg.submit(_images(int(n), i), job_id=i, timeout_s=TIMEOUT_S)
                f.add_done_callback(lambda f: done.append(f.result()))
                futs.append(f)

        producer = threading.Thread(target=produce)
        producer.start()
        for version, after_job in ((1, 15), (2, 35)):
            _poll(lambda: len(futs) > after_job)
            futs[after_job].result(TIMEOUT_S)
            assert bg.request_swap(ex.prepare(_VersionModel(version)), version)
        producer.join(TIMEOUT_S)
        results = [f.result(TIMEOUT_S) for f in futs]
    assert [r.job_id for r in results] == list(range(60))
    for r in results:
        assert len(r.crop_embeddings) == sizes[r.job_id]
        assert np.all(r.crop_embeddings == r.model_version), r.job_id   # made by the stamped weights
    completed = [r.model_version for r in done]
    assert completed == sorted(completed) and set(completed) == {0, 1, 2}
    batch_versions = [b.model_version for b in batches]
    assert batch_versions == sorted(batch_versions)
    version_of_job: dict[int, set[int]] = {}
    for b in batches:
        for jid, _, _ in b.parts:
            version_of_job.setdefault(jid, set()).add(b.model_version)
    assert all(len(v) == 1 for v in version_of_job.values())
    assert bg.stats()["swaps"] == 2


@pytest.fixture()
def published(tmp_path):
    """Checkpoints v1, v2 of a tiny network (different weights) and their reference extractors."""
    anns = {v: publish_checkpoint(build_reid_model("tiny", 32, seed=v), tmp_path, v, {"config": {"seed": v}})
            for v in (1, 2)}
    return anns


def _reference(path: str | None) -> Extractor:
    factory = (lambda: build_reid_model("tiny", 32, seed=0)) if path is None else \
        (lambda: model_from_checkpoint(path)[0])
    return Extractor(factory, device="cpu", batch_size=16)


def test_weight_swapper_hot_swaps_checkpoints_into_a_running_stream(published):
    ex = Extractor(lambda: build_reid_model("tiny", 32, seed=0), device="cpu", batch_size=8)
    refs = {0: _reference(None), 1: _reference(published[1].path), 2: _reference(published[2].path)}
    jobs = {i: _images(int(n), 100 + i) for i, n in enumerate(np.random.default_rng(3).integers(1, 12, 24))}
    with BackgroundExtractor(ex, max_queued_jobs=4) as bg, WeightSwapper(bg, expect_emb_dim=32) as swapper:
        futs = []
        for i, imgs in jobs.items():
            futs.append(bg.submit(imgs, job_id=i, timeout_s=TIMEOUT_S))
            if i == 6:
                assert swapper.announce(published[1]).result(TIMEOUT_S) == HANDED_OVER
            if i == 14:
                ann = published[2]
                assert swapper.announce((ann.version, ann.path, ann.sha256)).result(TIMEOUT_S) == HANDED_OVER
        results = [f.result(TIMEOUT_S) for f in futs]
        assert bg.wait_for_version(2, TIMEOUT_S)
    versions = [r.model_version for r in results]
    assert versions == sorted(versions) and versions[0] == 0 and versions[-1] == 2
    for r in results:
        want, _ = refs[r.model_version].embed(jobs[r.job_id])
        np.testing.assert_allclose(r.crop_embeddings, want, rtol=1e-4, atol=1e-4)
    assert swapper.stats() == {"handed_over": 2, "stale": 0, "rejected": 0}


def _corrupt(kind: str, ann: WeightsAnnouncement, tmp_path) -> tuple[WeightsAnnouncement, str]:
    """A bad announcement of ``kind`` (version 5) and the reason its log line must give."""
    blob = open(ann.path, "rb").read()
    bad = tmp_path / f"bad-{kind}.ckpt"
    if kind == "truncated":
        bad.write_bytes(blob[: len(blob) // 2])
        return WeightsAnnouncement(5, str(bad), ann.sha256, "tiny", 32), "sha256 mismatch"
    if kind == "truncated-no-sha-check":
        bad.write_bytes(blob[:-10])
        return WeightsAnnouncement(5, str(bad), ann.sha256, "tiny", 32), "truncated"
    if kind == "bitflip":
        flipped = bytearray(blob)
        flipped[-50] ^= 0xFF
        bad.write_bytes(bytes(flipped))
        return WeightsAnnouncement(5, str(bad), ann.sha256, "tiny", 32), "sha256 mismatch"
    if kind == "missing":
        return WeightsAnnouncement(5, str(tmp_path / "gone.ckpt"), ann.sha256, "tiny", 32), "cannot read"
    if kind == "wrong-arch":
        other = publish_checkpoint(build_reid_model("tiny", 64, seed=1), tmp_path / "wide", 5)
        return other, "announced emb_dim 64"          # refused on the announcement, before any read
    if kind == "version-mismatch":
        return WeightsAnnouncement(5, ann.path, ann.sha256, "tiny", 32), "header version 1"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["truncated", "truncated-no-sha-check", "bitflip", "missing",
                                  "wrong-arch", "version-mismatch"])
def test_bad_checkpoint_is_rejected_once_in_the_log_and_the_old_model_keeps_serving(
        kind, published, tmp_path, caplog):
    bad, reason = _corrupt(kind, published[1], tmp_path)
    # Without the announced checksum, the file's own length and weights hash must catch it.
    loader = (lambda path, sha: model_from_checkpoint(path, None, emb_dim=32)) \
        if kind == "truncated-no-sha-check" else None
    ex = Extractor(lambda: build_reid_model("tiny", 32, seed=0), device="cpu", batch_size=8)
    ref = _reference(None)
    imgs = _images(5, 9)
    caplog.set_level(logging.WARNING, logger="tastr_stream.models.lifecycle")
    with BackgroundExtractor(ex) as bg, WeightSwapper(bg, expect_emb_dim=32, loader=loader) as swapper:
        assert swapper.announce(bad).result(TIMEOUT_S) == REJECTED
        assert swapper.announce(bad).result(TIMEOUT_S) == REJECTED
        res = bg.submit(imgs, job_id="after").result(TIMEOUT_S)
        assert swapper.stats()["rejected"] == 2 and bg.model_version == 0
        assert swapper.announce(published[2]).result(TIMEOUT_S) == HANDED_OVER   # a good one still lands
        assert bg.wait_for_version(2, TIMEOUT_S)
    assert res.model_version == 0
    np.testing.assert_allclose(res.crop_embeddings, ref.embed(imgs)[0], rtol=1e-4, atol=1e-4)
    lines = [r for r in caplog.records if r.getMessage().startswith("announced checkpoint rejected")]
    assert len(lines) == 1
    kv = lines[0].kv
    assert kv["path"] == bad.path and reason in kv["error"] and kv["serving"] == 0 and kv["daemon"] == "ingest"


def test_old_and_equal_versions_are_ignored(published):
    ex = Extractor(lambda: build_reid_model("tiny", 32, seed=0), device="cpu", batch_size=8)
    with BackgroundExtractor(ex) as bg, WeightSwapper(bg) as swapper:
        assert swapper.announce(published[2]).result(TIMEOUT_S) == HANDED_OVER
        assert swapper.announce(published[1]).result(TIMEOUT_S) == STALE
        assert swapper.announce(published[2]).result(TIMEOUT_S) == STALE
        assert bg.wait_for_version(2, TIMEOUT_S)
        assert not bg.request_swap(ex.prepare(build_reid_model("tiny", 32)), 1)
    assert swapper.stats() == {"handed_over": 1, "stale": 2, "rejected": 0}
    assert bg.model_version == 2
